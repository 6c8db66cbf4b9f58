/* cmd_forward.c -- `ditfarm-worker forward TRANSFORMER_DIR INPUTS OUT
 * [--backend NAME] [--expected FILE] [--tol X]` (alias `wan-forward`): one
 * DiT forward of any supported family, chosen by config.json's _class_name,
 * on tensors named as diffusers names the model's forward() arguments:
 *
 *   hidden_states          the family's own layout, batch first:
 *                          Wan [B, C, F, H, W], CogVideoX [B, F, C, H, W]
 *                          (Wan also reads the older fixture name `latent`)
 *   timestep               [B] or [1] (one value for the whole batch)
 *   encoder_hidden_states  [B, L, text_dim]
 *   ofs                    [B] or [1], models with an ofs embedding
 *
 * Positional tables (Wan's RoPE, CogVideoX's sin-cos / RoPE with the
 * pipeline's grid crop) are computed for the latent size exactly as the
 * pipeline would.  OUT gets `sample`, the shape of hidden_states with the
 * model's output channels.  With --expected, prints the relative L2 distance
 * to that file's `sample` and fails beyond --tol (default 1e-4).  It lets
 * anyone check a diffusers model folder against diffusers without building
 * the tests (tests/fixtures/make_*_fixtures.py write both files). */
#include "fwd_model.h"
#include "clock.h"
#include "kern.h"
#include "log.h"
#include "safetensors.h"
#include "worker_exit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Tensor `name` (or, failing that, `alt`) as fp32 with exactly `ndim` axes.
 * Caller frees *out. */
static int read_input(const struct safetensors *st, const char *path, const char *name,
                      const char *alt, int ndim, const struct safetensors_tensor **t_out,
                      float **out, struct df_err *err)
{
    const struct safetensors_tensor *t = safetensors_find(st, name);
    if (!t && alt)
        t = safetensors_find(st, alt);
    DF_FAIL_IF(!t, err, DF_E_NOTFOUND, "%s: no tensor '%s'", path, name);
    DF_FAIL_IF(t->ndim != ndim, err, DF_E_INVAL, "%s: tensor '%s' has %d dimensions, expected %d",
               path, t->name, t->ndim, ndim);
    *out = malloc(((size_t)t->numel + 1) * sizeof **out);
    DF_FAIL_IF(!*out, err, DF_E_NOMEM, "%s: out of memory for '%s'", path, t->name);
    *t_out = t;
    return safetensors_to_f32(t, *out, (size_t)t->numel, err);
}

/* A per-sample value ([B] or [1]) for batch entry b. */
static float per_sample(const struct safetensors_tensor *t, const float *v, int64_t b)
{
    return v[t->numel == 1 ? 0 : b];
}

struct forward_io {
    float *out;       /* sample, malloc'd */
    int64_t shape[5]; /* sample's shape */
    double ms;        /* forward time, all batch entries */
};

/* Every batch entry of INPUTS through the model. */
static int forward_batch(struct fwd_model *m, const struct safetensors *st, const char *path,
                         struct forward_io *io, struct df_err *err)
{
    const struct safetensors_tensor *th = NULL, *tx = NULL, *tt = NULL, *to = NULL;
    float *hs = NULL, *tx_v = NULL, *ts = NULL, *of = NULL;
    /* Wan fixtures made before `forward` existed name the latent `latent`. */
    const char *alt = strcmp(fwd_model_class(m), "WanTransformer3DModel") == 0 ? "latent" : NULL;
    int rc = read_input(st, path, "hidden_states", alt, 5, &th, &hs, err);
    if (rc == 0)
        rc = read_input(st, path, "encoder_hidden_states", NULL, 3, &tx, &tx_v, err);
    if (rc == 0)
        rc = read_input(st, path, "timestep", NULL, 1, &tt, &ts, err);
    if (rc == 0 && fwd_model_has_ofs(m)) {
        rc = read_input(st, path, "ofs", NULL, 1, &to, &of, err);
        if (rc < 0)
            df_err_prefix(err, "this model has an ofs embedding");
    }
    const int64_t B = th ? th->shape[0] : 0;
    if (rc == 0 && (tx->shape[0] != B || (tt->numel != B && tt->numel != 1) ||
                    (to && to->numel != B && to->numel != 1)))
        rc = df_err_set(err, DF_E_INVAL,
                        "%s: hidden_states has batch %lld but encoder_hidden_states %lld, "
                        "timestep %lld values",
                        path, (long long)B, (long long)tx->shape[0], (long long)tt->numel);
    int64_t od[4];
    if (rc == 0) {
        rc = fwd_model_prepare(m, th->shape + 1, tx->shape[1], tx->shape[2], od, err);
        if (rc < 0)
            df_err_prefix(err, "%s", path);
    }
    const size_t n_in = rc == 0 ? (size_t)(th->numel / B) : 0;
    const size_t n_out = (size_t)od[0] * od[1] * od[2] * od[3];
    const size_t n_txt = rc == 0 ? (size_t)(tx->numel / B) : 0;
    if (rc == 0 && !(io->out = calloc((size_t)B * n_out, sizeof *io->out)))
        rc = df_err_set(err, DF_E_NOMEM, "out of memory for the output");
    const double t0 = (1e3 * df_clock_s());
    for (int64_t b = 0; b < B && rc == 0; b++)
        rc = fwd_model_forward(m, hs + b * n_in, per_sample(tt, ts, b),
                               of ? per_sample(to, of, b) : 0.0f, tx_v + b * n_txt,
                               io->out + b * n_out, err);
    io->ms = (1e3 * df_clock_s()) - t0;
    io->shape[0] = B;
    memcpy(io->shape + 1, od, sizeof od);
    free(hs), free(tx_v), free(ts), free(of);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Command
 * ------------------------------------------------------------------------- */

static int compare(const char *exp_path, const float *out, size_t n, double tol,
                   struct df_err *err)
{
    struct safetensors *ex = NULL;
    float *want = NULL;
    DF_TRY(safetensors_open(exp_path, &ex, err));
    const struct safetensors_tensor *tw = safetensors_find(ex, "sample");
    int rc = 0;
    if (!tw)
        rc = df_err_set(err, DF_E_NOTFOUND, "%s: no tensor 'sample'", exp_path);
    else if ((size_t)tw->numel != n)
        rc = df_err_set(err, DF_E_INVAL, "%s: 'sample' has %lld values, the output %zu",
                        exp_path, (long long)tw->numel, n);
    else if (!(want = malloc(n * sizeof *want)))
        rc = df_err_set(err, DF_E_NOMEM, "out of memory for %s", exp_path);
    else
        rc = safetensors_to_f32(tw, want, n, err);
    if (rc == 0) {
        double num = 0, den = 0;
        for (size_t i = 0; i < n; i++) {
            double d = (double)out[i] - want[i];
            num += d * d;
            den += (double)want[i] * want[i];
        }
        double rel = sqrt(num / (den > 0 ? den : 1));
        printf("relative L2 vs %s: %.3e (tolerance %.1e): %s\n", exp_path, rel, tol,
               rel <= tol ? "ok" : "FAIL");
        if (!(rel <= tol))
            rc = df_err_set(err, DF_E_RANGE, "relative L2 %.3e exceeds %.1e", rel, tol);
    }
    free(want);
    safetensors_close(ex);
    return rc;
}

static int run(const char *dir, const char *in_path, const char *out_path, const char *backend,
               const char *exp_path, double tol, struct df_err *err)
{
    kern_backend_t be = NULL;
    struct fwd_model *m = NULL;
    struct safetensors *in = NULL;
    struct forward_io io = {0};
    int rc = kern_backend_create(backend, 0, &be, err);
    if (rc == 0)
        rc = fwd_model_load(be, dir, &m, err);
    if (rc == 0)
        rc = safetensors_open(in_path, &in, err);
    if (rc == 0)
        rc = forward_batch(m, in, in_path, &io, err);
    size_t n = 1;
    for (int i = 0; i < 5; i++)
        n *= (size_t)io.shape[i];
    if (rc == 0) {
        struct safetensors_entry e = {.name = "sample", .dtype = SAFETENSORS_DTYPE_F32,
                                      .ndim = 5, .data = io.out};
        memcpy(e.shape, io.shape, sizeof io.shape);
        rc = safetensors_write(out_path, &e, 1, NULL, 0, err);
    }
    if (rc == 0) {
        printf("wrote %s: %s sample [%lld, %lld, %lld, %lld, %lld], %d layers, forward %.1f ms "
               "on %s\n",
               out_path, fwd_model_class(m), (long long)io.shape[0], (long long)io.shape[1],
               (long long)io.shape[2], (long long)io.shape[3], (long long)io.shape[4],
               fwd_model_layers(m), io.ms, kern_backend_name(be));
        if (exp_path)
            rc = compare(exp_path, io.out, n, tol, err);
    }
    free(io.out);
    safetensors_close(in);
    fwd_model_free(m);
    kern_backend_free(be);
    return rc;
}

int cmd_forward(int argc, char **argv, struct df_log *log)
{
    const char *pos[3] = {NULL, NULL, NULL}, *backend = "cpu", *expected = NULL;
    double tol = 1e-4;
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc)
            backend = argv[++i];
        else if (strcmp(argv[i], "--expected") == 0 && i + 1 < argc)
            expected = argv[++i];
        else if (strcmp(argv[i], "--tol") == 0 && i + 1 < argc)
            tol = atof(argv[++i]);
        else if (argv[i][0] != '-' && npos < 3)
            pos[npos++] = argv[i];
        else
            npos = -99;
    }
    if (npos != 3) {
        fprintf(stderr, "usage: ditfarm-worker %s TRANSFORMER_DIR INPUTS.safetensors "
                        "OUT.safetensors [--backend cpu|cuda] [--expected FILE] [--tol X]\n",
                argv[0]);
        return WORKER_EXIT_USAGE;
    }
    struct df_err err = {0};
    if (run(pos[0], pos[1], pos[2], backend, expected, tol, &err) < 0) {
        DF_ERROR(log, "%s: %s", argv[0], err.msg);
        return WORKER_EXIT_FAILED;
    }
    return WORKER_EXIT_DONE;
}
