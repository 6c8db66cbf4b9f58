/* cmd_validate.c -- `ditfarm validate [--json] [--configs DIR] FILE...`: load
 * and check manifests; print a summary per shot, or every error found. */
#include "cli.h"
#include "diag.h"
#include "manifest.h"
#include "paths.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ditfarm validate [--json] [--configs DIR] FILE...\n\n"
            "Check render manifests: every error of every file is reported, one per line\n"
            "(file:line:col: error: key.path: message).  Without errors, prints one line per\n"
            "shot: model, size, frames, steps, latent grid and token count.\n\n"
            "  --json          print the normalized manifest (defaults applied, seeds drawn)\n"
            "                  instead; an array when several files are given\n"
            "  --configs DIR   where models/<name>.yaml live (default: $DITFARM_CONFIGS,\n"
            "                  then the configs/ of the build or source tree)\n\n"
            "exit status: 0 all valid, 1 errors found, 2 bad command line\n");
}

static void print_summary(const struct manifest *m)
{
    printf("%s: OK (%zu shot%s)\n", m->path, m->n_shots, m->n_shots == 1 ? "" : "s");
    for (size_t i = 0; i < m->n_shots; i++) {
        const struct shot *s = &m->shots[i];
        const struct model_grid *g = &s->grid;
        printf("  %s: %s %dx%d, %d frames, %d steps, %s, latent %dx%dx%d, tokens %dx%dx%d = "
               "%lld, seed %llu%s\n",
               s->id, s->geom.name, s->width, s->height, s->frames, s->steps,
               sampler_kind_name(s->sampler), g->latent[0], g->latent[1], g->latent[2], g->tokens[0],
               g->tokens[1], g->tokens[2], (long long)g->seq_len, (unsigned long long)s->seed,
               s->seed_random ? " (drawn)" : "");
    }
}

static void print_diags(const struct diag_list *dl)
{
    for (size_t i = 0; i < dl->count; i++) {
        char line[DIAG_LINE_CAP];
        diag_format(&dl->items[i], line, sizeof(line));
        fprintf(stderr, "%s\n", line);
    }
    if (dl->dropped)
        fprintf(stderr, "(%zu more diagnostics not shown)\n", dl->dropped);
}

int cmd_validate(int argc, char **argv, const struct cli_ctx *ctx)
{
    (void)ctx;
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"configs", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int json = 0, c;
    const char *configs_opt = NULL;
    optind = 1;
    opterr = 0;
    /* options may follow the files (`validate FILE --configs DIR`); `--` ends them */
    while ((c = getopt_long(argc, argv, "jc:h", opts, NULL)) != -1) {
        if (c == 'j')
            json = 1;
        else if (c == 'c')
            configs_opt = optarg;
        else if (c == 'h')
            return usage(stdout), CLI_EXIT_OK;
        else if (optopt)
            return cli_usage_error("validate", "bad or incomplete option '-%c'", optopt);
        else
            return cli_usage_error("validate", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind >= argc)
        return cli_usage_error("validate", "no manifest given");

    struct df_err err = {0};
    char configs[PATH_MAX];
    const char *configs_dir = configs;
    if (paths_configs_dir(configs_opt, configs, sizeof(configs), &err) < 0) {
        if (configs_opt)
            return cli_usage_error("validate", "%s", err.msg);
        configs_dir = NULL; /* model paths still work; names will say why not */
    }
    int rc = CLI_EXIT_OK;
    cJSON *all = json && argc - optind > 1 ? cJSON_CreateArray() : NULL;
    for (int i = optind; i < argc; i++) {
        struct manifest *m = NULL;
        struct diag_list dl = {0};
        df_err_clear(&err);
        if (manifest_load(argv[i], configs_dir, &m, &dl, &err) < 0) {
            print_diags(&dl);
            if (!dl.count)
                fprintf(stderr, "%s\n", err.msg);
            rc = CLI_EXIT_FAIL;
        } else {
            print_diags(&dl); /* warnings */
            if (!json) {
                print_summary(m);
            } else {
                cJSON *j = manifest_to_json(m);
                if (all && j) {
                    cJSON_AddItemToArray(all, j);
                } else if (j) {
                    char *text = cJSON_Print(j);
                    if (text)
                        printf("%s\n", text);
                    cJSON_free(text);
                    cJSON_Delete(j);
                }
                if (!j)
                    rc = CLI_EXIT_FAIL;
            }
        }
        manifest_free(m);
        diag_list_clear(&dl);
    }
    if (all) {
        char *text = cJSON_Print(all);
        if (text)
            printf("%s\n", text);
        cJSON_free(text);
        cJSON_Delete(all);
    }
    return rc;
}
