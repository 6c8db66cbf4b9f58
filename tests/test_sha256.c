/* test_sha256.c -- lib/sha256.c against the FIPS 180-4 / NIST example vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sha256.h"

static void hex_of(const void *data, size_t n, char out[65])
{
    struct sha256 h;
    uint8_t d[SHA256_DIGEST_LEN];
    sha256_init(&h);
    sha256_update(&h, data, n);
    sha256_final(&h, d);
    sha256_hex(d, out);
}

static void test_known_vectors(void **state)
{
    (void)state;
    char hex[65];
    hex_of("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 448 bits */
    hex_of(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_million_a(void **state)
{
    (void)state;
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    char hex[65];
    hex_of(a, 1000000, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* Every split point (and every padding boundary: 55, 56, 63, 64 bytes) gives the one-shot hash. */
static void test_chunking(void **state)
{
    (void)state;
    uint8_t msg[200];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof(msg); len++) {
        char want[65];
        hex_of(msg, len, want);
        for (size_t cut = 0; cut <= len; cut += 13) {
            struct sha256 h;
            uint8_t d[SHA256_DIGEST_LEN];
            char got[65];
            sha256_init(&h);
            sha256_update(&h, msg, cut);
            sha256_update(&h, msg + cut, len - cut);
            sha256_final(&h, d);
            sha256_hex(d, got);
            assert_string_equal(got, want);
        }
    }
}

static void test_file(void **state)
{
    (void)state;
    char path[] = "/tmp/df_sha256_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    struct sha256 h;
    uint8_t d[SHA256_DIGEST_LEN];
    char hex[65];
    uint64_t n = 0;
    struct df_err err = {0};
    sha256_init(&h);
    assert_int_equal(sha256_update_file(&h, path, &n, &err), 0);
    sha256_final(&h, d);
    sha256_hex(d, hex);
    assert_int_equal(n, 3);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unlink(path);
    sha256_init(&h);
    assert_int_equal(sha256_update_file(&h, "/nonexistent/x", NULL, &err), DF_E_IO);
    assert_string_equal(err.msg, "checksum: open '/nonexistent/x': No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_chunking),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
