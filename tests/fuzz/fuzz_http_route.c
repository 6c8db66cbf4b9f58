/*
 * fuzz_http_route.c -- libFuzzer target for the HTTP side's routing
 * (daemon/http/http_route.c) and token-name check (http_auth.c): the input's
 * first line is the method, the rest the path.  Every answer must be 0, 404
 * or 405; a match names a real route, captures fit and are terminated, and
 * only POST mutates.  Seeds: tests/fuzz/corpus/http_route.
 */
#include "fuzz_util.h"

#include "http_auth.h"
#include "http_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[4096];
    if (size >= sizeof(buf))
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *nl = strchr(buf, '\n');
    const char *method = "GET", *path = buf;
    if (nl) {
        *nl = '\0';
        method = buf, path = nl + 1;
    }
    struct http_route r;
    int st = http_route_match(method, path, &r);
    if (st != 0 && st != 404 && st != 405)
        abort();
    if (st == 0 && (r.id <= HTTP_ROUTE_NONE || r.id >= HTTP_ROUTE_COUNT))
        abort();
    if (st == 405 && !r.allow)
        abort();
    if (strlen(r.manifest) >= JOB_ID_CAP || strlen(r.shot) >= JOB_ID_CAP)
        abort();
    if (r.mutation && strcmp(method, "POST") != 0)
        abort();
    (void)auth_name_ok(path);
    return 0;
}
