/* cmd_latent_diff.c -- `ditfarm-worker latent-diff A B [--tol X]`: relative L2
 * distance of the latents of two safetensors files (as render --latent-out
 * writes them).  Exit 0 within the tolerance, 1 beyond it or on error.  The
 * parity tests use it so CI needs no Python. */
#include "log.h"
#include "safetensors.h"
#include "worker_exit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load(const char *path, float **out, int64_t *n, struct df_err *err)
{
    struct safetensors *st = NULL;
    DF_TRY(safetensors_open(path, &st, err));
    const struct safetensors_tensor *t = safetensors_find(st, "latent");
    int rc = 0;
    if (!t) {
        rc = df_err_set(err, DF_E_NOTFOUND, "%s: no tensor 'latent'", path);
    } else if (!(*out = malloc((size_t)t->numel * sizeof(float)))) {
        rc = df_err_set(err, DF_E_NOMEM, "%s: out of memory", path);
    } else {
        *n = t->numel;
        rc = safetensors_to_f32(t, *out, (size_t)t->numel, err);
    }
    safetensors_close(st);
    return rc;
}

int cmd_latent_diff(int argc, char **argv, struct df_log *log)
{
    (void)log;
    double tol = 1e-5;
    if (argc == 5 && strcmp(argv[3], "--tol") == 0)
        tol = atof(argv[4]);
    else if (argc != 3) {
        fprintf(stderr, "usage: ditfarm-worker latent-diff A.safetensors B.safetensors [--tol X]\n");
        return WORKER_EXIT_USAGE;
    }
    float *a = NULL, *b = NULL;
    int64_t na = 0, nb = 0;
    struct df_err err = {0};
    int ok = load(argv[1], &a, &na, &err) == 0 && load(argv[2], &b, &nb, &err) == 0;
    if (ok && na != nb) {
        df_err_set(&err, DF_E_INVAL, "sizes differ: %lld vs %lld", (long long)na, (long long)nb);
        ok = 0;
    }
    double num = 0, den = 0;
    for (int64_t i = 0; ok && i < na; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)a[i] * a[i];
    }
    free(a);
    free(b);
    if (!ok) {
        fprintf(stderr, "latent-diff: %s\n", err.msg);
        return WORKER_EXIT_FAILED;
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    printf("rel L2 %.3g (tolerance %.3g)\n", rel, tol);
    return rel <= tol ? WORKER_EXIT_DONE : WORKER_EXIT_FAILED;
}
