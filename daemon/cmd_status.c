/*
 * cmd_status.c -- `ditfarm status [--json] [--watch [SECONDS]]`: every shot
 * ditfarmd knows, with its state, Slurm job id, progress (the worker's
 * progress.json), ETA and step-cache hit rate; --json prints the daemon's
 * answer as is (docs/daemon.md); --watch redraws the table every SECONDS (2)
 * until interrupted (--count N stops after N tables, for scripts and tests).
 */
#include "cli.h"
#include "ctl.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void print_table(const cJSON *rep)
{
    printf("%-16s %-16s %-10s %-8s %-10s %-8s %-6s %s\n", "MANIFEST", "SHOT", "STATE", "JOB",
           "PROGRESS", "ETA", "CACHE", "NOTE");
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(rep, "shots"))
    {
        char prog[32] = "-", cache[16] = "-";
        int steps = (int)num(s, "steps");
        if (steps > 0)
            snprintf(prog, sizeof(prog), "%d/%d", (int)num(s, "step"), steps);
        if (num(s, "cache_hit_rate") >= 0)
            snprintf(cache, sizeof(cache), "%.0f%%", 100 * num(s, "cache_hit_rate"));
        const char *state = str(s, "state");
        const char *note = strcmp(state, "done") == 0 ? str(s, "output") : str(s, "reason");
        if (!note[0] && strcmp(state, "waiting") == 0)
            note = str(s, "after");
        /* one line per shot: multi-line Slurm messages are joined with " / " */
        char flat[2048];
        size_t k = 0;
        for (const char *c = note; *c && k + 4 < sizeof(flat); c++) {
            if (*c == '\n' && c[1])
                flat[k++] = ' ', flat[k++] = '/', flat[k++] = ' ';
            else if (*c != '\n')
                flat[k++] = *c;
        }
        flat[k] = '\0';
        printf("%-16s %-16s %-10s %-8s %-10s %-8s %-6s %s\n", str(s, "manifest"), str(s, "shot"),
               state, str(s, "job_id")[0] ? str(s, "job_id") : "-", prog,
               str(s, "eta")[0] && strcmp(state, "running") == 0 ? str(s, "eta") : "-", cache,
               flat);
    }
    const cJSON *wh = cJSON_GetObjectItemCaseSensitive(rep, "webhooks");
    if (wh)
        printf("webhooks: %.0f pending, %.0f sent, %.0f dropped\n", num(wh, "pending"),
               num(wh, "sent"), num(wh, "dropped"));
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(rep, "slurm_reachable")))
        printf("Slurm does not answer: states are kept until it does\n");
}

/* One status request, printed as a table or JSON.  Returns a CLI exit code. */
static int show(const char *dir, int json)
{
    char *reply = NULL;
    struct df_err err = {0};
    if (ctl_request(dir, "{\"cmd\":\"status\"}", 30, &reply, &err) < 0) {
        fprintf(stderr, "ditfarm status: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    cJSON *rep = cJSON_Parse(reply);
    int rc = CLI_EXIT_OK;
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep, "ok"))) {
        fprintf(stderr, "ditfarm status: %s\n", rep ? str(rep, "error") : reply);
        rc = CLI_EXIT_FAIL;
    } else if (json) {
        char *pretty = cJSON_Print(rep);
        printf("%s\n", pretty ? pretty : reply);
        free(pretty);
    } else {
        print_table(rep);
    }
    cJSON_Delete(rep);
    free(reply);
    return rc;
}

/* Redraw every `every_s` seconds: the screen is cleared on a terminal, tables
 * follow each other otherwise.  A daemon that stops answering is reported and
 * waited for, not fatal. */
static int watch(const char *dir, int json, int every_s, int count)
{
    int tty = isatty(STDOUT_FILENO);
    for (int i = 0; count == 0 || i < count; i++) {
        if (i)
            sleep((unsigned)every_s);
        char when[32];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
        if (tty)
            printf("\033[H\033[2J");
        printf("ditfarm status at %s (every %d s; Ctrl-C stops)\n", when, every_s);
        show(dir, json);
        fflush(stdout);
    }
    return CLI_EXIT_OK;
}

int cmd_status(int argc, char **argv, const struct cli_ctx *ctx)
{
    (void)ctx;
    enum { O_STATE = 256, O_JSON, O_WATCH, O_COUNT, O_HELP };
    static const struct option longs[] = {
        {"state-dir", required_argument, 0, O_STATE},
        {"json", no_argument, 0, O_JSON},
        {"watch", optional_argument, 0, O_WATCH},
        {"count", required_argument, 0, O_COUNT},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    const char *state_dir = NULL;
    int json = 0, ch, every = 0, count = 0;
    char *end;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case O_STATE:
            state_dir = optarg;
            break;
        case O_JSON:
            json = 1;
            break;
        case O_WATCH:
            every = optarg ? (int)strtol(optarg, &end, 10) : 2;
            if (every < 1 || every > 3600 || (optarg && *end))
                return cli_usage_error("status", "--watch takes seconds in 1..3600");
            break;
        case O_COUNT:
            count = (int)strtol(optarg, &end, 10);
            if (count < 1 || *end)
                return cli_usage_error("status", "--count takes a positive number");
            break;
        case 'h':
        case O_HELP:
            printf("usage: ditfarm status [--json] [--watch[=SECONDS] [--count N]] "
                   "[--state-dir DIR]\n\n"
                   "Shots known to ditfarmd: state, job id, progress, ETA, cache hit rate.\n"
                   "--watch redraws every SECONDS (2) until Ctrl-C; --count stops after N.\n");
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("status", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error("status", "unexpected argument '%s'", argv[optind]);
    if (count && !every)
        return cli_usage_error("status", "--count goes with --watch");
    char dir[PATH_MAX];
    struct df_err err = {0};
    if (ctl_state_dir(state_dir, dir, sizeof(dir), &err) < 0) {
        fprintf(stderr, "ditfarm status: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    return every ? watch(dir, json, every, count) : show(dir, json);
}
