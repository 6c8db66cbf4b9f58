/* test_http_route.c -- daemon/http/http_route.c: every call of docs/api.md
 * routes to its handler with its captures; wrong methods are 405 with Allow;
 * unknown API paths 404; the page's files are GET only; ids that could not
 * be shot ids (too long, "..") never match. */
#include "http_route.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

static void expect(const char *method, const char *path, enum http_route_id id, int mutation,
                   const char *m, const char *s)
{
    struct http_route r;
    assert_int_equal(http_route_match(method, path, &r), 0);
    assert_string_equal(http_route_name(r.id), http_route_name(id));
    assert_int_equal(r.mutation, mutation);
    assert_string_equal(r.manifest, m);
    assert_string_equal(r.shot, s);
}

static void test_every_call(void **state)
{
    (void)state;
    expect("GET", "/api/v1/shots", HTTP_ROUTE_SHOTS, 0, "", "");
    expect("HEAD", "/api/v1/shots/", HTTP_ROUTE_SHOTS, 0, "", "");
    expect("GET", "/api/v1/shots/m/a", HTTP_ROUTE_SHOT, 0, "m", "a");
    expect("GET", "/api/v1/shots/m/a/log", HTTP_ROUTE_SHOT_LOG, 0, "m", "a");
    expect("GET", "/api/v1/shots/m/a/preview.png", HTTP_ROUTE_SHOT_PREVIEW, 0, "m", "a");
    expect("POST", "/api/v1/shots/m/a/cancel", HTTP_ROUTE_SHOT_CANCEL, 1, "m", "a");
    expect("POST", "/api/v1/shots/m/a/retry", HTTP_ROUTE_SHOT_RETRY, 1, "m", "a");
    expect("POST", "/api/v1/shots/m/a/priority", HTTP_ROUTE_SHOT_PRIORITY, 1, "m", "a");
    expect("GET", "/api/v1/manifests", HTTP_ROUTE_MANIFESTS, 0, "", "");
    expect("POST", "/api/v1/manifests", HTTP_ROUTE_SUBMIT, 1, "", "");
    expect("POST", "/api/v1/manifests/night/cancel", HTTP_ROUTE_MANIFEST_CANCEL, 1, "night", "");
    expect("GET", "/api/v1/events", HTTP_ROUTE_EVENTS, 0, "", "");
    expect("GET", "/api/v1/audit", HTTP_ROUTE_AUDIT, 0, "", "");
    expect("GET", "/api/v1/whoami", HTTP_ROUTE_WHOAMI, 0, "", "");
    expect("GET", "/healthz", HTTP_ROUTE_HEALTHZ, 0, "", "");
    expect("GET", "/metrics", HTTP_ROUTE_METRICS, 0, "", "");
    expect("GET", "/", HTTP_ROUTE_STATIC, 0, "", "");
    expect("GET", "/app.js", HTTP_ROUTE_STATIC, 0, "", "");
}

static void test_refusals(void **state)
{
    (void)state;
    struct http_route r;
    assert_int_equal(http_route_match("DELETE", "/api/v1/shots", &r), 405);
    assert_string_equal(r.allow, "GET, HEAD");
    assert_int_equal(http_route_match("GET", "/api/v1/shots/m/a/cancel", &r), 405);
    assert_string_equal(r.allow, "POST");
    assert_int_equal(http_route_match("PUT", "/api/v1/manifests", &r), 405);
    assert_string_equal(r.allow, "GET, HEAD, POST");
    assert_int_equal(http_route_match("POST", "/", &r), 405);
    assert_int_equal(http_route_match("POST", "/metrics", &r), 405);
    assert_int_equal(http_route_match("GET", "/api/v2/shots", &r), 404);
    assert_true(r.api);
    assert_int_equal(http_route_match("GET", "/api/v1/shots/m", &r), 404);
    assert_int_equal(http_route_match("GET", "/api/v1/shots/m/a/b/c", &r), 404);
    assert_int_equal(http_route_match("GET", "/api/v1/shots/../a", &r), 404);
    assert_int_equal(http_route_match("GET", "/api", &r), 404);
    char longp[300];
    snprintf(longp, sizeof(longp), "/api/v1/shots/m/%0100d", 7);
    assert_int_equal(http_route_match("GET", longp, &r), 404);
    assert_int_equal(r.id, HTTP_ROUTE_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_call),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
