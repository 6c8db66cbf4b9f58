/* cmd_calibrate.c -- `ditfarm-worker calibrate MODEL_DIR --sampler S --steps N
 * [--shift X] [--prompts FILE | --n-prompts K] [--latent T,H,W] [--guidance G]
 * [--seed N] [--name NAME] [--backend B] [--threads N] --out FILE`:
 * fit the step-cache calibration of a model for one sampler and step count
 * (calibrate.h) and write it where the cache policy finds it
 * (configs/models/<model>/stepcache-<sampler>-<steps>.json).  --prompts reads
 * one prompt per non-empty line. */
#include "calibrate.h"
#include "log.h"
#include "worker_exit.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROMPTS 256

static int usage(void)
{
    fprintf(stderr, "usage: ditfarm-worker calibrate MODEL_DIR --sampler euler|unipc --steps N "
                    "[--shift X] [--prompts FILE | --n-prompts K] [--latent T,H,W] [--guidance G] "
                    "[--seed N] [--name NAME] [--backend B] [--threads N] --out FILE\n");
    return WORKER_EXIT_USAGE;
}

static int read_prompts(const char *path, char **lines, int *n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[4096];
    *n = 0;
    while (*n < MAX_PROMPTS && fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\r\n")] = '\0';
        if (buf[0] && !(lines[*n] = strdup(buf)))
            break;
        *n += buf[0] != '\0';
    }
    fclose(f);
    return *n > 0 ? 0 : -1;
}

static int parse_args(int argc, char **argv, struct calibrate_opts *o, const char **out,
                      const char **prompts_file)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (a[0] != '-') {
            if (o->model_dir)
                return -1;
            o->model_dir = a;
            continue;
        }
        if (!v)
            return -1;
        i++;
        struct df_err err = {0};
        if (strcmp(a, "--sampler") == 0) {
            if (sampler_kind_from_name(v, &o->sampler, &err) < 0) {
                fprintf(stderr, "calibrate: %s\n", err.msg);
                return -1;
            }
        } else if (strcmp(a, "--steps") == 0) {
            o->steps = (int)strtol(v, &end, 10);
        } else if (strcmp(a, "--shift") == 0) {
            o->shift = strtod(v, &end);
        } else if (strcmp(a, "--n-prompts") == 0) {
            o->n_prompts = (int)strtol(v, &end, 10);
        } else if (strcmp(a, "--guidance") == 0) {
            o->guidance = strtod(v, &end);
        } else if (strcmp(a, "--seed") == 0) {
            o->seed = strtoull(v, &end, 0);
        } else if (strcmp(a, "--threads") == 0) {
            o->threads = (int)strtol(v, &end, 10);
        } else if (strcmp(a, "--latent") == 0) {
            if (sscanf(v, "%d,%d,%d", &o->latent[0], &o->latent[1], &o->latent[2]) != 3)
                return -1;
        } else if (strcmp(a, "--prompts") == 0) {
            *prompts_file = v;
        } else if (strcmp(a, "--name") == 0) {
            o->model_name = v;
        } else if (strcmp(a, "--backend") == 0) {
            o->backend = v;
        } else if (strcmp(a, "--out") == 0) {
            *out = v;
        } else {
            return -1;
        }
        if (end && *end) {
            fprintf(stderr, "calibrate: %s wants a number, got '%s'\n", a, v);
            return -1;
        }
    }
    return o->model_dir && *out ? 0 : -1;
}

int cmd_calibrate(int argc, char **argv, struct df_log *log)
{
    struct calibrate_opts o;
    calibrate_opts_init(&o);
    const char *out = NULL, *prompts_file = NULL;
    if (parse_args(argc, argv, &o, &out, &prompts_file) < 0)
        return usage();
    char *lines[MAX_PROMPTS] = {0};
    int n_lines = 0;
    if (prompts_file) {
        if (read_prompts(prompts_file, lines, &n_lines) < 0) {
            DF_ERROR(log, "calibrate: cannot read prompts from %s", prompts_file);
            for (int i = 0; i < n_lines; i++)
                free(lines[i]);
            return WORKER_EXIT_FAILED;
        }
        o.prompts = (const char *const *)lines;
        o.n_prompts = n_lines;
    }
    struct stepcache_calib cal;
    cJSON *prov = NULL;
    struct df_err err = {0};
    int rc = calibrate_run(&o, &cal, &prov, &err);
    if (rc == 0)
        rc = stepcache_calib_save(out, &cal, prov, &err);
    if (rc == 0) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(prov, "rms_error");
        printf("wrote %s: %s %d steps, %d points; rms error teacache e %.3g, e0 %.3g, "
               "prompttea %.3g\n",
               out, cal.sampler, cal.steps,
               (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(prov, "points")),
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "teacache_e")),
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "teacache_e0")),
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "prompttea_fit")));
    } else {
        DF_ERROR(log, "calibrate: %s", err.msg);
    }
    stepcache_calib_clear(&cal);
    cJSON_Delete(prov);
    for (int i = 0; i < n_lines; i++)
        free(lines[i]);
    return rc == 0 ? WORKER_EXIT_DONE : WORKER_EXIT_FAILED;
}
