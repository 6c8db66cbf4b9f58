/* cmd_sample.c -- `ditfarm-worker sample MODEL_DIR IN OUT --steps N
 * [--scheduler DIR] [--dynamic-cfg] [--backend NAME] [--expected F] [--tol X]`: replay a pipeline's
 * guided denoising loop from given tensors, for any family and scheduler,
 * so a trajectory can be checked against diffusers step by step.
 *
 * MODEL_DIR holds `transformer/` (any family fwd_model.h knows) and, unless
 * --scheduler names another folder, `scheduler/scheduler_config.json`
 * (sampler_json.h: FlowMatchEuler, UniPC flow, CogVideoXDDIM, CogVideoXDPM).
 * IN holds, named as the pipelines name them:
 *   noise           the initial latent, [1, ...] in the family's layout
 *                   (CogVideoX [1, F, C, H, W]; init_noise_sigma is 1)
 *   cond            prompt_embeds [1, L, D]
 *   uncond          negative_prompt_embeds [1, L, D] (needed when guidance > 1)
 *   guidance_scale  [1] (absent: 1, no guidance)
 *   ofs             [1], models with an ofs embedding (absent: 2.0, what
 *                   CogVideoXImageToVideoPipeline passes)
 *   noise_draw_0 .. the stochastic scheduler's draws inside step(), in the
 *                   order it takes them (CogVideoXDPM: 1 on the first and
 *                   last step, 2 on the others), each shaped like noise
 * Guidance is the pipelines' noise_pred = uncond + g * (cond - uncond) in
 * float32; with --dynamic-cfg, CogVideoXPipeline's use_dynamic_cfg:
 *   g_t = 1 + g * (1 - cos(pi * ((N - t) / N) ** 5)) / 2
 * of the TIMESTEP t (not the step index), in double as Python computes it.
 * OUT gets `timesteps` [N], `latents_step_k` (after step k) and `final`.
 * With --expected FILE, every tensor of FILE must match OUT's tensor of the
 * same name within --tol relative L2 (default 1e-4); the worst is printed. */
#include "fwd_model.h"
#include "kern.h"
#include "log.h"
#include "safetensors.h"
#include "sampler.h"
#include "sampler_json.h"
#include "worker_exit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct replay {
    const struct safetensors *in;
    const char *in_path;
    sampler_t smp;
    size_t n; /* latent floats */
};

static int read_f32(const struct safetensors *st, const char *path, const char *name,
                    size_t want_n, float **out, struct df_err *err)
{
    const struct safetensors_tensor *t = safetensors_find(st, name);
    DF_FAIL_IF(!t, err, DF_E_NOTFOUND, "%s: no tensor '%s'", path, name);
    DF_FAIL_IF(want_n && (size_t)t->numel != want_n, err, DF_E_INVAL,
               "%s: tensor '%s' has %lld values, expected %zu", path, name, (long long)t->numel,
               want_n);
    *out = malloc(((size_t)t->numel + 1) * sizeof **out);
    DF_FAIL_IF(!*out, err, DF_E_NOMEM, "out of memory for '%s'", name);
    return safetensors_to_f32(t, *out, (size_t)t->numel, err);
}

/* sampler_noise_fn: draw `draw` of step i is noise_draw_<k>, k counting every
 * draw of the earlier steps. */
static int noise_from_file(void *user, int step, int draw, size_t offset, size_t n, float *dst,
                           struct df_err *err)
{
    const struct replay *r = user;
    int k = draw;
    for (int i = 0; i < step; i++)
        k += sampler_noise_draws(r->smp, i);
    char name[32];
    snprintf(name, sizeof name, "noise_draw_%d", k);
    const struct safetensors_tensor *t = safetensors_find(r->in, name);
    DF_FAIL_IF(!t, err, DF_E_NOTFOUND, "%s: no tensor '%s' (step %d takes draw %d)", r->in_path,
               name, step, draw);
    DF_FAIL_IF((size_t)t->numel != r->n || offset + n > r->n, err, DF_E_INVAL,
               "%s: '%s' has %lld values, the latent %zu", r->in_path, name, (long long)t->numel,
               r->n);
    float *all = malloc(r->n * sizeof *all);
    DF_FAIL_IF(!all, err, DF_E_NOMEM, "out of memory for '%s'", name);
    int rc = safetensors_to_f32(t, all, r->n, err);
    if (rc == 0)
        memcpy(dst, all + offset, n * sizeof *dst);
    free(all);
    return rc;
}

/* CogVideoXPipeline's use_dynamic_cfg scale at timestep t of N steps. */
static double dynamic_scale(double g, double t, int N)
{
    return 1.0 + g * ((1.0 - cos(M_PI * pow(((double)N - t) / (double)N, 5.0))) / 2.0);
}

struct outputs {
    struct safetensors_entry *e;
    float **bufs;
    char (*names)[32];
    int count;
};

static void outputs_free(struct outputs *o)
{
    for (int i = 0; o->bufs && i < o->count; i++)
        free(o->bufs[i]);
    free(o->e), free(o->bufs), free(o->names);
}

struct sample_args {
    const char *model_dir, *in_path, *out_path, *sched_dir, *backend, *expected;
    int steps, dynamic_cfg;
    double tol;
};

/* Every tensor of the expected file against the output of the same name. */
static int compare(const struct outputs *o, const char *path, double tol, struct df_err *err)
{
    struct safetensors *ex;
    DF_TRY(safetensors_open(path, &ex, err));
    double worst = 0;
    const char *worst_name = "-";
    int rc = 0;
    for (int i = 0; i < safetensors_count(ex) && rc == 0; i++) {
        const struct safetensors_tensor *t = safetensors_at(ex, i);
        int k = -1;
        for (int j = 0; j < o->count; j++)
            if (strcmp(o->e[j].name, t->name) == 0)
                k = j;
        size_t n = 1;
        for (int d = 0; k >= 0 && d < o->e[k].ndim; d++)
            n *= (size_t)o->e[k].shape[d];
        float *want = NULL;
        if (k < 0 || n != (size_t)t->numel)
            rc = df_err_set(err, DF_E_INVAL, "%s: '%s' has no counterpart of %lld values in the "
                            "output", path, t->name, (long long)t->numel);
        else if (!(want = malloc(n * sizeof *want)))
            rc = df_err_set(err, DF_E_NOMEM, "out of memory");
        else
            rc = safetensors_to_f32(t, want, n, err);
        double num = 0, den = 0;
        for (size_t j = 0; rc == 0 && j < n; j++) {
            const double d = (double)o->e[k].data[j] - want[j];
            num += d * d, den += (double)want[j] * want[j];
        }
        const double rel = sqrt(num / (den > 0 ? den : 1));
        if (rc == 0 && !(rel <= worst)) /* NaN counts as the worst */
            worst = rel, worst_name = t->name;
        free(want);
    }
    if (rc == 0) {
        printf("worst relative L2 vs %s: %.3e (%s; tolerance %.1e): %s\n", path, worst,
               worst_name, tol, worst <= tol ? "ok" : "FAIL");
        if (!(worst <= tol))
            rc = df_err_set(err, DF_E_RANGE, "%s: relative L2 %.3e exceeds %.1e", worst_name,
                            worst, tol);
    }
    safetensors_close(ex);
    return rc;
}

static int denoise(struct fwd_model *m, struct replay *r, const struct safetensors_tensor *tn,
                   const struct sample_args *a, struct outputs *o, struct df_err *err)
{
    float *lat = NULL, *cond = NULL, *unc = NULL, *gsv = NULL, *ofs = NULL;
    float *oc = NULL, *ou = NULL, *ts = NULL;
    const struct safetensors_tensor *tc = safetensors_find(r->in, "cond");
    int rc = read_f32(r->in, r->in_path, "noise", 0, &lat, err);
    if (rc == 0)
        rc = read_f32(r->in, r->in_path, "cond", 0, &cond, err);
    float g = 1.0f;
    if (rc == 0 && safetensors_find(r->in, "guidance_scale")) {
        rc = read_f32(r->in, r->in_path, "guidance_scale", 1, &gsv, err);
        g = gsv ? gsv[0] : 1.0f;
    }
    const int guided = g > 1.0f; /* the pipelines' do_classifier_free_guidance */
    if (rc == 0 && guided)
        rc = read_f32(r->in, r->in_path, "uncond", (size_t)tc->numel, &unc, err);
    if (rc == 0 && fwd_model_has_ofs(m) && safetensors_find(r->in, "ofs"))
        rc = read_f32(r->in, r->in_path, "ofs", 1, &ofs, err);
    int64_t od[4];
    if (rc == 0 && (tn->ndim != 5 || tn->shape[0] != 1 || tc->ndim != 3 || tc->shape[0] != 1))
        rc = df_err_set(err, DF_E_INVAL, "%s: noise must be [1, ...] (5 axes, %s) and cond "
                        "[1, L, D]", r->in_path, fwd_model_layout(m));
    if (rc == 0)
        rc = fwd_model_prepare(m, tn->shape + 1, tc->shape[1], tc->shape[2], od, err);
    if (rc == 0 && (size_t)(od[0] * od[1] * od[2] * od[3]) != r->n)
        rc = df_err_set(err, DF_E_INVAL, "the model's output has another shape than its input");
    if (rc == 0 && (!(oc = malloc(r->n * sizeof *oc)) || !(ou = malloc(r->n * sizeof *ou)) ||
                    !(ts = malloc((size_t)a->steps * sizeof *ts))))
        rc = df_err_set(err, DF_E_NOMEM, "out of memory");
    for (int i = 0; i < a->steps && rc == 0; i++) {
        const float t = sampler_timestep(r->smp, i);
        ts[i] = t;
        const float o_v = ofs ? ofs[0] : 2.0f; /* the CogVideoX pipelines' ofs */
        rc = fwd_model_forward(m, lat, t, o_v, cond, oc, err);
        if (rc == 0 && guided)
            rc = fwd_model_forward(m, lat, t, o_v, unc, ou, err);
        if (rc == 0 && guided) {
            const float gt = (float)(a->dynamic_cfg ? dynamic_scale(g, t, a->steps) : (double)g);
            for (size_t j = 0; j < r->n; j++)
                oc[j] = ou[j] + gt * (oc[j] - ou[j]);
        }
        if (rc == 0)
            rc = sampler_step(r->smp, i, oc, lat, r->n, err);
        if (rc == 0 && !(o->bufs[o->count] = malloc(r->n * sizeof(float))))
            rc = df_err_set(err, DF_E_NOMEM, "out of memory");
        if (rc == 0) {
            memcpy(o->bufs[o->count], lat, r->n * sizeof(float));
            snprintf(o->names[o->count], 32, "latents_step_%d", i);
            o->e[o->count] = (struct safetensors_entry){.name = o->names[o->count],
                                                        .dtype = SAFETENSORS_DTYPE_F32,
                                                        .ndim = 5, .data = o->bufs[o->count]};
            memcpy(o->e[o->count].shape, tn->shape, 5 * sizeof(int64_t));
            o->count++;
        }
        if (rc < 0)
            df_err_prefix(err, "step %d (t=%g)", i, (double)t);
    }
    if (rc == 0) {
        o->bufs[o->count] = ts, ts = NULL;
        o->e[o->count] = (struct safetensors_entry){.name = "timesteps",
                                                    .dtype = SAFETENSORS_DTYPE_F32, .ndim = 1,
                                                    .shape = {a->steps},
                                                    .data = o->bufs[o->count]};
        o->count++;
        o->bufs[o->count] = lat, lat = NULL;
        o->e[o->count] = (struct safetensors_entry){.name = "final",
                                                    .dtype = SAFETENSORS_DTYPE_F32, .ndim = 5,
                                                    .data = o->bufs[o->count]};
        memcpy(o->e[o->count].shape, tn->shape, 5 * sizeof(int64_t));
        o->count++;
    }
    free(lat), free(cond), free(unc), free(gsv), free(ofs), free(oc), free(ou), free(ts);
    return rc;
}

static int run(const struct sample_args *a, struct df_err *err)
{
    char path[4096];
    struct sampler_config sc;
    if (a->sched_dir)
        snprintf(path, sizeof path, "%s/scheduler_config.json", a->sched_dir);
    else
        snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", a->model_dir);
    DF_TRY(sampler_config_load_json(path, &sc, err));
    sc.steps = a->steps;
    kern_backend_t be = NULL;
    struct fwd_model *m = NULL;
    struct safetensors *in = NULL;
    struct replay r = {.in_path = a->in_path};
    struct outputs o = {0};
    int rc = kern_backend_create(a->backend, 0, &be, err);
    snprintf(path, sizeof path, "%s/transformer", a->model_dir);
    if (rc == 0)
        rc = fwd_model_load(be, path, &m, err);
    if (rc == 0)
        rc = safetensors_open(a->in_path, &in, err);
    r.in = in;
    const struct safetensors_tensor *tn = in ? safetensors_find(in, "noise") : NULL;
    if (rc == 0 && !tn)
        rc = df_err_set(err, DF_E_NOTFOUND, "%s: no tensor 'noise'", a->in_path);
    if (rc == 0) {
        r.n = (size_t)tn->numel;
        rc = sampler_create(&sc, 0, r.n, r.n, &r.smp, err);
    }
    if (rc == 0) {
        sampler_set_noise(r.smp, noise_from_file, &r);
        o.e = calloc((size_t)a->steps + 2, sizeof *o.e);
        o.bufs = calloc((size_t)a->steps + 2, sizeof *o.bufs);
        o.names = calloc((size_t)a->steps + 2, sizeof *o.names);
        if (!o.e || !o.bufs || !o.names)
            rc = df_err_set(err, DF_E_NOMEM, "out of memory");
    }
    if (rc == 0)
        rc = denoise(m, &r, tn, a, &o, err);
    if (rc == 0)
        rc = safetensors_write(a->out_path, o.e, o.count, NULL, 0, err);
    if (rc == 0)
        printf("wrote %s: %s, %s x %d steps (t %g .. %g)%s, %zu latent values\n", a->out_path,
               fwd_model_class(m), sampler_kind_name(sc.kind), a->steps,
               (double)sampler_timestep(r.smp, 0), (double)sampler_timestep(r.smp, a->steps - 1),
               a->dynamic_cfg ? ", dynamic CFG" : "", r.n);
    if (rc == 0 && a->expected)
        rc = compare(&o, a->expected, a->tol, err);
    outputs_free(&o);
    sampler_free(r.smp);
    safetensors_close(in);
    fwd_model_free(m);
    kern_backend_free(be);
    return rc;
}

int cmd_sample(int argc, char **argv, struct df_log *log)
{
    struct sample_args a = {.backend = "cpu", .tol = 1e-4};
    const char *pos[3] = {NULL, NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            a.steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--scheduler") == 0 && i + 1 < argc)
            a.sched_dir = argv[++i];
        else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc)
            a.backend = argv[++i];
        else if (strcmp(argv[i], "--expected") == 0 && i + 1 < argc)
            a.expected = argv[++i];
        else if (strcmp(argv[i], "--tol") == 0 && i + 1 < argc)
            a.tol = atof(argv[++i]);
        else if (strcmp(argv[i], "--dynamic-cfg") == 0)
            a.dynamic_cfg = 1;
        else if (argv[i][0] != '-' && npos < 3)
            pos[npos++] = argv[i];
        else
            npos = -99;
    }
    if (npos != 3 || a.steps < 1 || a.steps > SAMPLER_MAX_STEPS) {
        fprintf(stderr, "usage: ditfarm-worker sample MODEL_DIR IN.safetensors OUT.safetensors "
                        "--steps N [--scheduler DIR] [--dynamic-cfg] [--backend cpu|cuda] "
                        "[--expected FILE] [--tol X]\n");
        return WORKER_EXIT_USAGE;
    }
    a.model_dir = pos[0], a.in_path = pos[1], a.out_path = pos[2];
    struct df_err err = {0};
    if (run(&a, &err) < 0) {
        DF_ERROR(log, "sample: %s", err.msg);
        return WORKER_EXIT_FAILED;
    }
    return WORKER_EXIT_DONE;
}
