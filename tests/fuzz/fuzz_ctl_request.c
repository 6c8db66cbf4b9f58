/*
 * fuzz_ctl_request.c -- libFuzzer target for control-socket requests
 * (daemon/serve.c: serve_request, what ditfarmd does with the one JSON line
 * a client sends: ping, submit, status, cancel).  The daemon is opened once
 * on a scratch state directory (its SQLite store, jobs and manifests
 * folders); every reply must be a JSON object with a boolean "ok".  The
 * text "@CONFIGS@" in a request becomes the source tree's configs/ folder, so
 * submit seeds load real models and reach the job writing.
 * Seeds: tests/fuzz/corpus/ctl_request.
 */
#include "fuzz_util.h"

#include "config.h"
#include "daemon.h"
#include "log.h"

#include <cjson/cJSON.h>

static struct daemon *daemon_once(void)
{
    static struct daemon d;
    static struct df_log log;
    static int open;
    if (open)
        return &d;
    struct config c;
    config_defaults(&c);
    snprintf(c.state_dir, sizeof c.state_dir, "%s/state", fuzz_dir());
    c.http_listen[0] = '\0';
    struct df_err err = {0};
    FILE *devnull = fopen("/dev/null", "w");
    if (!devnull)
        abort();
    df_log_init(&log, "fuzz", devnull);
    if (daemon_open(&d, &c, &log, &err) < 0)
        abort();
    open = 1;
    return &d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 16))
        return 0;
    struct daemon *d = daemon_once();
    static const char mark[] = "@CONFIGS@";
    const size_t extra = strlen(DITFARM_FUZZ_CONFIGS);
    char *req = malloc(size + extra + 1);
    if (!req)
        return 0;
    memcpy(req, data, size);
    req[size] = '\0';
    char *at = strstr(req, mark);
    if (at && strlen(req) == size) {
        memmove(at + extra, at + sizeof mark - 1, strlen(at + sizeof mark - 1) + 1);
        memcpy(at, DITFARM_FUZZ_CONFIGS, extra);
    }
    char *reply = serve_request(d, req);
    cJSON *r = reply ? cJSON_Parse(reply) : NULL;
    if (!r || !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(r, "ok")))
        abort();
    cJSON_Delete(r);
    free(reply);
    free(req);
    return 0;
}
