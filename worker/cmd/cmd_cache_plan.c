/* cmd_cache_plan.c -- `ditfarm-worker cache-plan MANIFEST [--shot ID]
 * [--configs DIR] [--json]`: plan a shot's step-cache mask exactly as its
 * render will (stepcache_plan_shot: calibration lookup and refusals, tau and
 * its source, the sampler's schedule) and print the decision of every pass
 * and the predicted denoise speed-up, without rendering.  Loads the model's
 * weights (the mask comes from its time embedding). */
#include "kern.h"
#include "log.h"
#include "manifest.h"
#include "paths.h"
#include "sampler.h"
#include "sampler_json.h"
#include "stepcache.h"
#include "t5_prompt.h"
#include "text_embed.h"
#include "worker_exit.h"

#include "cfg.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Share of a pass's FLOPs in the block stack (what a skip saves). */
static double block_share(const family_model_t *fm, const struct family_shape *sh)
{
    const double all = family_flops(fm, sh);
    return all > 0 ? family_flops_blocks(fm, sh) / all : 1.0;
}

/* The CogVideoX samplers take betas, SNR shift and spacing from the
 * folder's scheduler_config.json, as the render does (render_sched.c). */
static int sched_from_folder(const char *model_dir, struct sampler_config *sc, struct df_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", model_dir);
    if (access(path, R_OK) != 0)
        return 0;
    struct sampler_config fc;
    DF_TRY(sampler_config_load_json(path, &fc, err));
    if (fc.kind != SAMPLER_KIND_COGVIDEOX_DDIM && fc.kind != SAMPLER_KIND_COGVIDEOX_DPM)
        return 0;
    sc->ddpm = fc.ddpm;
    sc->num_train_timesteps = fc.num_train_timesteps;
    return 0;
}

static void print_text(const struct shot *s, const struct stepcache_mask *m, sampler_t smp,
                       double share)
{
    printf("shot %s: cache %s, mode %s, tau %.4g (%s)", s->id, cache_policy_name(m->policy),
           cache_mode_name(m->mode), m->tau, m->tau_source);
    if (m->cfg_threshold > 0)
        printf(", cfg_threshold %g", m->cfg_threshold);
    printf("\n");
    char line[96];
    for (int i = 0; i < m->steps; i++)
        printf("  step %d/%d t=%.1f: %s\n", i + 1, m->steps, sampler_timestep(smp, i),
               stepcache_mask_describe(m, i, line, sizeof line));
    int64_t c, t;
    stepcache_mask_passes(m, &c, &t);
    printf("passes computed %lld/%lld; predicted denoise speed-up %.2fx (block stack %.1f%% of "
           "a pass's FLOPs)\n",
           (long long)c, (long long)t, stepcache_mask_speedup(m, share), 100 * share);
}

static int plan(const char *manifest, const char *shot_id, const char *configs_opt, int json,
                struct df_err *err)
{
    char configs[4096];
    DF_TRY(paths_configs_dir(configs_opt, configs, sizeof configs, err));
    struct manifest *man = NULL;
    struct diag_list dl = {0};
    int rc = manifest_load(manifest, configs, &man, &dl, err);
    for (size_t i = 0; rc < 0 && i < dl.count; i++) {
        char line[DIAG_LINE_CAP];
        diag_format(&dl.items[i], line, sizeof line);
        fprintf(stderr, "%s\n", line);
    }
    diag_list_clear(&dl);
    DF_TRY(rc);
    kern_backend_t be = NULL;
    family_model_t *fm = NULL;
    sampler_t smp = NULL;
    float *text = NULL;
    int idx = shot_id ? manifest_find_shot(man, shot_id) : (man->n_shots == 1 ? 0 : -1);
    const struct shot *s = idx >= 0 ? &man->shots[idx] : NULL;
    if (!s) {
        rc = df_err_set(err, DF_E_NOTFOUND, "%s: %s", manifest,
                        shot_id ? "no such shot" : "several shots: name one with --shot");
        goto done;
    }
    if (!s->geom.path[0]) {
        rc = df_err_set(err, DF_E_UNSUPPORTED, "model '%s' has no weights folder", s->model);
        goto done;
    }
    if ((rc = kern_backend_create("cpu", 0, &be, err)) < 0 ||
        (rc = family_load(be, s->geom.path, &fm, err)) < 0)
        goto done;
    struct family_info fi;
    family_info(fm, &fi);
    const struct family_info *c = &fi;
    struct family_shape sh = {.frames = s->grid.latent[0],
                              .height = s->grid.latent[1],
                              .width = s->grid.latent[2],
                              .text_len = s->geom.text_len > 0 ? s->geom.text_len : 512};
    if ((rc = family_reserve(fm, &sh, err)) < 0)
        goto done;
    struct sampler_config sc;
    sampler_config_init(&sc, s->sampler);
    sc.steps = s->steps;
    sc.shift = s->flow_shift;
    if ((rc = sched_from_folder(s->geom.path, &sc, err)) < 0 ||
        (rc = sampler_create(&sc, 0, 1, 1, &smp, err)) < 0)
        goto done;
    int n_tok = 0;
    text = calloc((size_t)sh.text_len * c->text_dim, sizeof *text);
    if (!text) {
        rc = df_err_set(err, DF_E_NOMEM, "out of memory");
        goto done;
    }
    int standin = 0;
    if (s->prompt_embeds) {
        rc = text_embed_load(s->prompt_embeds, sh.text_len, c->text_dim, text, &n_tok, err);
    } else {
        /* the folder's encoder, as the render; stand-in rows (no prompt
         * complexity: the manifest threshold) only without one */
        rc = t5_prompt_embed_one(s->geom.path,
                                 strcmp(s->geom.family, "cogvideox") ? T5_PROMPT_STYLE_WAN
                                                                     : T5_PROMPT_STYLE_COGVIDEOX,
                                 s->prompt ? s->prompt : "", sh.text_len,
                                 c->text_dim, text, &n_tok, err);
        if (rc == DF_E_NOTFOUND)
            rc = 0, standin = 1;
    }
    struct stepcache_mask mask;
    char warning[1024];
    struct stepcache_shot_in in = {.configs_dir = configs,
                                   .model = s->model,
                                   .policy = &s->cache,
                                   .smp = smp,
                                   .guided = shot_guided(s),
                                   .text = standin ? NULL : text,
                                   .n_tokens = standin ? 0 : n_tok,
                                   .text_dim = c->text_dim,
                                   .model_handle = fm,
                                   .warning = warning,
                                   .warning_cap = sizeof warning};
    if (rc == 0 && (rc = stepcache_plan_shot(&in, &mask, err)) == 0) {
        const double share = block_share(fm, &sh);
        if (warning[0])
            fprintf(stderr, "warning: %s\n", warning);
        if (json) {
            cJSON *j = stepcache_mask_json(&mask);
            cJSON_AddStringToObject(j, "shot", s->id);
            cJSON_AddNumberToObject(j, "predicted_speedup", stepcache_mask_speedup(&mask, share));
            char *t = cJSON_Print(j);
            printf("%s\n", t ? t : "null");
            free(t);
            cJSON_Delete(j);
        } else {
            print_text(s, &mask, smp, share);
        }
        stepcache_mask_free(&mask);
    }
    if (rc < 0)
        df_err_prefix(err, "shot %s", s->id);
done:
    free(text);
    sampler_free(smp);
    family_free(fm);
    kern_backend_free(be);
    manifest_free(man);
    return rc;
}

int cmd_cache_plan(int argc, char **argv, struct df_log *log)
{
    static const struct option opts[] = {
        {"shot", required_argument, 0, 's'},
        {"configs", required_argument, 0, 'c'},
        {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *shot = NULL, *configs = NULL;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            shot = optarg;
            break;
        case 'c':
            configs = optarg;
            break;
        case 'j':
            json = 1;
            break;
        default:
            fprintf(stderr, "usage: ditfarm-worker cache-plan MANIFEST [--shot ID] "
                            "[--configs DIR] [--json]\n");
            return c == 'h' ? WORKER_EXIT_DONE : WORKER_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr,
                "usage: ditfarm-worker cache-plan MANIFEST [--shot ID] [--configs DIR] [--json]\n");
        return WORKER_EXIT_USAGE;
    }
    struct df_err err = {0};
    if (plan(argv[optind], shot, configs, json, &err) < 0) {
        DF_ERROR(log, "cache-plan: %s", err.msg);
        return WORKER_EXIT_FAILED;
    }
    return WORKER_EXIT_DONE;
}
