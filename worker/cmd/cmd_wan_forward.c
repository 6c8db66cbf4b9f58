/* cmd_wan_forward.c -- `ditfarm-worker wan-forward TRANSFORMER_DIR INPUTS OUT
 * [--backend NAME] [--expected FILE] [--tol X]`: one DiT forward on the
 * tensors of a fixture-style INPUTS safetensors file (latent [1,C,T,H,W] or
 * [C,T,H,W], timestep [1] or scalar, encoder_hidden_states [1,L,D] or [L,D]),
 * writing OUT with `sample` [1,C_out,T,H,W].  With --expected, prints the
 * relative L2 distance to that file's `sample` and fails beyond --tol
 * (default 1e-4).  It lets anyone check a diffusers model folder against
 * diffusers (tests/fixtures/make_wan_fixtures.py writes both files) without
 * building the tests. */
#include "kern.h"
#include "log.h"
#include "safetensors.h"
#include "wan_model.h"
#include "worker_exit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Tensor `name` with a leading batch of 1 dropped; ndim_want is the rank
 * without batch.  Caller frees *out. */
static int read_input(const struct safetensors *st, const char *path, const char *name,
                      int ndim_want, const struct safetensors_tensor **t_out, float **out,
                      struct df_err *err)
{
    const struct safetensors_tensor *t = safetensors_find(st, name);
    DF_FAIL_IF(!t, err, DF_E_NOTFOUND, "%s: no tensor '%s'", path, name);
    int batched = t->ndim == ndim_want + 1 && t->shape[0] == 1;
    DF_FAIL_IF(t->ndim != ndim_want && !batched, err, DF_E_INVAL,
               "%s: tensor '%s' has %d dimensions, expected %d (or %d with batch 1)", path, name,
               t->ndim, ndim_want, ndim_want + 1);
    *out = malloc(((size_t)t->numel + 1) * sizeof **out);
    DF_FAIL_IF(!*out, err, DF_E_NOMEM, "%s: out of memory for '%s'", path, name);
    *t_out = t;
    return safetensors_to_f32(t, *out, (size_t)t->numel, err);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int run(const char *dir, const char *in_path, const char *out_path, const char *backend,
               const char *exp_path, double tol, struct df_err *err)
{
    kern_backend_t be = NULL;
    struct wan_model *m = NULL;
    struct safetensors *in = NULL, *ex = NULL;
    float *latent = NULL, *text = NULL, *ts = NULL, *out = NULL, *want = NULL;
    const struct safetensors_tensor *tl, *tt, *tts;
    int rc = kern_backend_create(backend, 0, &be, err);
    if (rc == 0)
        rc = wan_model_load(be, dir, &m, err);
    if (rc == 0)
        rc = safetensors_open(in_path, &in, err);
    if (rc == 0)
        rc = read_input(in, in_path, "latent", 4, &tl, &latent, err);
    if (rc == 0)
        rc = read_input(in, in_path, "encoder_hidden_states", 2, &tt, &text, err);
    if (rc == 0)
        rc = read_input(in, in_path, "timestep", 0, &tts, &ts, err);
    if (rc < 0)
        goto done;
    const struct wan_config *c = wan_model_config(m);
    const int64_t *ls = tl->shape + (tl->ndim - 4), *xs = tt->shape + (tt->ndim - 2);
    if (ls[0] != c->in_channels || xs[1] != c->text_dim) {
        rc = df_err_set(err, DF_E_INVAL,
                        "%s: latent has %lld channels and text %lld features; the model wants "
                        "%d and %d",
                        in_path, (long long)ls[0], (long long)xs[1], c->in_channels, c->text_dim);
        goto done;
    }
    struct wan_shape sh = {.frames = (int)ls[1], .height = (int)ls[2], .width = (int)ls[3],
                           .text_len = (int)xs[0]};
    size_t n_out = (size_t)c->out_channels * sh.frames * sh.height * sh.width;
    out = calloc(n_out, sizeof *out);
    if (!out) {
        rc = df_err_set(err, DF_E_NOMEM, "out of memory for the output");
        goto done;
    }
    if ((rc = wan_model_reserve(m, &sh, err)) < 0)
        goto done;
    double t0 = now_s();
    if ((rc = wan_model_forward(m, &sh, latent, ts[0], text, out, err)) < 0)
        goto done;
    double dt = now_s() - t0;
    struct safetensors_entry e = {.name = "sample", .dtype = SAFETENSORS_DTYPE_F32, .ndim = 5,
                                  .shape = {1, c->out_channels, sh.frames, sh.height, sh.width},
                                  .data = out};
    if ((rc = safetensors_write(out_path, &e, 1, NULL, 0, err)) < 0)
        goto done;
    printf("wrote %s: sample [1, %d, %d, %d, %d], %d layers, forward %.1f ms on %s\n", out_path,
           c->out_channels, sh.frames, sh.height, sh.width, c->num_layers, dt * 1e3,
           kern_backend_name(be));
    if (exp_path) {
        const struct safetensors_tensor *tw;
        if ((rc = safetensors_open(exp_path, &ex, err)) < 0 ||
            (rc = read_input(ex, exp_path, "sample", 4, &tw, &want, err)) < 0)
            goto done;
        if ((size_t)tw->numel != n_out) {
            rc = df_err_set(err, DF_E_INVAL, "%s: 'sample' has %lld values, the output %zu",
                            exp_path, (long long)tw->numel, n_out);
            goto done;
        }
        double num = 0, den = 0;
        for (size_t i = 0; i < n_out; i++) {
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
done:
    free(latent), free(text), free(ts), free(out), free(want);
    safetensors_close(in);
    safetensors_close(ex);
    wan_model_free(m);
    kern_backend_free(be);
    return rc;
}

int cmd_wan_forward(int argc, char **argv, struct df_log *log)
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
        fprintf(stderr, "usage: ditfarm-worker wan-forward TRANSFORMER_DIR INPUTS.safetensors "
                        "OUT.safetensors [--backend cpu|cuda] [--expected FILE] [--tol X]\n");
        return WORKER_EXIT_USAGE;
    }
    struct df_err err = {0};
    if (run(pos[0], pos[1], pos[2], backend, expected, tol, &err) < 0) {
        DF_ERROR(log, "wan-forward: %s", err.msg);
        return WORKER_EXIT_FAILED;
    }
    return WORKER_EXIT_DONE;
}
