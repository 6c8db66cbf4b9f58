/* test_url.c -- webhook URL checks, redaction, and which addresses are private. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "notify.h"
#include "url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static void test_parse(void **state)
{
    (void)state;
    struct url_parts u;
    struct df_err err = {0};
    assert_int_equal(url_parse("https://hooks.example.com/a?b=c", &u, &err), 0);
    assert_true(u.https);
    assert_string_equal(u.host, "hooks.example.com");
    assert_int_equal(u.port, 443);
    assert_int_equal(url_parse("http://u:p@10.0.0.1:8080/x", &u, &err), 0);
    assert_true(u.userinfo);
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.host, "10.0.0.1");
    assert_int_equal(url_parse("http://[::1]:9/x", &u, &err), 0);
    assert_string_equal(u.host, "::1");
    const char *bad[] = {"file:///etc/shadow", "gopher://127.0.0.1:6379/_x", "ftp://h/",
                         "http://a/ file:///x", "http:///x", "http://h:0/", "http://h:99999/",
                         "http://h:8a/", "http://exa mple/", "http://h/\n", "http://h_x/",
                         "http://[::1/", "dict://h/", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(url_parse(bad[i], &u, &err), DF_E_INVAL);
    assert_int_equal(url_parse("http://u:secret@h/?token=t", &u, &err), 0);
    assert_int_equal(url_parse("http://u:secret@h/ x?token=t", &u, &err), DF_E_INVAL);
    assert_null(strstr(err.msg, "secret"));
    assert_null(strstr(err.msg, "token"));
}

static void test_redact(void **state)
{
    (void)state;
    char out[256];
    url_redact("https://user:pw@h.example:8443/p/q?token=SECRET#frag", out, sizeof(out));
    assert_string_equal(out, "https://***@h.example:8443/p/q?***");
    url_redact("http://h/p", out, sizeof(out));
    assert_string_equal(out, "http://h/p");
    url_redact("http://h?x", out, sizeof(out));
    assert_string_equal(out, "http://h?***");
    url_redact("file:///etc/shadow", out, sizeof(out));
    assert_null(strstr(out, "shadow"));
}

static int v4(const char *a)
{
    struct sockaddr_in s = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
    return notify_addr_private((struct sockaddr *)&s);
}

static int v6(const char *a)
{
    struct sockaddr_in6 s = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
    return notify_addr_private((struct sockaddr *)&s);
}

static void test_private(void **state)
{
    (void)state;
    const char *priv4[] = {"127.0.0.1", "127.5.5.5", "10.1.2.3", "172.16.0.1", "172.31.255.255",
                           "192.168.1.1", "169.254.169.254", "0.0.0.0", "100.64.0.1",
                           "224.0.0.1", "255.255.255.255", "198.18.0.1", NULL};
    const char *pub4[] = {"8.8.8.8", "172.32.0.1", "192.169.0.1", "100.128.0.1", "1.1.1.1",
                          NULL};
    for (int i = 0; priv4[i]; i++)
        assert_true(v4(priv4[i]));
    for (int i = 0; pub4[i]; i++)
        assert_false(v4(pub4[i]));
    const char *priv6[] = {"::1", "::", "fe80::1", "fd00::1", "fc12::1", "ff02::1",
                           "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",
                           "2001:db8::1", NULL};
    for (int i = 0; priv6[i]; i++)
        assert_true(v6(priv6[i]));
    assert_false(v6("2606:4700:4700::1111"));
    assert_false(v6("::ffff:8.8.8.8"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_private),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
