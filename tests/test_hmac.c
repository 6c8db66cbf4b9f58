/* test_hmac.c -- HMAC-SHA256 against the RFC 4231 test vectors (cases 1-7). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hmac.h"

#include <string.h>

static void fill(uint8_t *dst, uint8_t byte, size_t n)
{
    memset(dst, byte, n);
}

static void check(const void *key, size_t klen, const void *msg, size_t mlen, const char *want,
                  size_t want_hex)
{
    uint8_t mac[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN + 1];
    hmac_sha256(key, klen, msg, mlen, mac);
    sha256_hex(mac, hex);
    assert_memory_equal(hex, want, want_hex); /* case 5 compares a truncated MAC */
    /* the streaming form, one byte at a time, agrees */
    struct hmac_sha256 h;
    hmac_sha256_init(&h, key, klen);
    for (size_t i = 0; i < mlen; i++)
        hmac_sha256_update(&h, (const uint8_t *)msg + i, 1);
    uint8_t mac2[SHA256_DIGEST_LEN];
    hmac_sha256_final(&h, mac2);
    assert_true(hmac_equal(mac, mac2, sizeof(mac)));
}

static void test_rfc4231(void **state)
{
    (void)state;
    uint8_t k[131], d[50];
    fill(k, 0x0b, 20);
    check(k, 20, "Hi There", 8,
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 64);
    check("Jefe", 4, "what do ya want for nothing?", 28,
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 64);
    fill(k, 0xaa, 20);
    fill(d, 0xdd, 50);
    check(k, 20, d, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 64);
    for (int i = 0; i < 25; i++)
        k[i] = (uint8_t)(i + 1);
    fill(d, 0xcd, 50);
    check(k, 25, d, 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 64);
    fill(k, 0x0c, 20);
    check(k, 20, "Test With Truncation", 20, "a3b6167473100ee06e0c796c2955552b", 32);
    fill(k, 0xaa, 131);
    check(k, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54,
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 64);
    const char *m7 = "This is a test using a larger than block-size key and a larger than "
                     "block-size data. The key needs to be hashed before being used by the "
                     "HMAC algorithm.";
    check(k, 131, m7, strlen(m7),
          "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 64);
}

static void test_equal(void **state)
{
    (void)state;
    assert_true(hmac_equal("abc", "abc", 3));
    assert_false(hmac_equal("abc", "abd", 3));
    assert_true(hmac_equal("", "", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4231),
        cmocka_unit_test(test_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
