/* cmd_cancel.c -- `ditfarm cancel SHOT|MANIFEST`: ditfarmd cancels the active
 * shots with that id or of that manifest (scancel for those in Slurm). */
#include "cli.h"
#include "ctl.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_cancel(int argc, char **argv, const struct cli_ctx *ctx)
{
    (void)ctx;
    enum { O_STATE = 256, O_HELP };
    static const struct option longs[] = {
        {"state-dir", required_argument, 0, O_STATE},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    const char *state_dir = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case O_STATE:
            state_dir = optarg;
            break;
        case 'h':
        case O_HELP:
            printf("usage: ditfarm cancel MANIFEST[/SHOT]|SHOT [--state-dir DIR]\n\n"
                   "Cancel one shot (MANIFEST/SHOT), every active shot of a manifest, or a\n"
                   "bare shot id when exactly one manifest has it (else the matches are\n"
                   "listed); their Slurm jobs get scancel (they checkpoint on TERM).\n");
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("cancel", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("cancel", "expected one MANIFEST, MANIFEST/SHOT or SHOT argument");
    char dir[PATH_MAX], *reply = NULL, *text = NULL;
    struct df_err err = {0};
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "cmd", "cancel");
    cJSON_AddStringToObject(req, "target", argv[optind]);
    text = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (!text || ctl_state_dir(state_dir, dir, sizeof(dir), &err) < 0 ||
        ctl_request(dir, text, 60, &reply, &err) < 0) {
        fprintf(stderr, "ditfarm cancel: %s\n", text ? err.msg : "out of memory");
        free(text);
        return CLI_EXIT_FAIL;
    }
    free(text);
    cJSON *rep = cJSON_Parse(reply);
    int rc = CLI_EXIT_OK;
    const cJSON *e;
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep, "ok"))) {
        e = cJSON_GetObjectItemCaseSensitive(rep, "error");
        fprintf(stderr, "ditfarm cancel: %s\n", cJSON_IsString(e) ? e->valuestring : reply);
        rc = CLI_EXIT_FAIL;
    } else {
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rep, "cancelled"))
            printf("cancelled %s\n", e->valuestring);
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rep, "errors"))
        {
            fprintf(stderr, "ditfarm cancel: %s\n", e->valuestring);
            rc = CLI_EXIT_FAIL;
        }
    }
    cJSON_Delete(rep);
    free(reply);
    return rc;
}
