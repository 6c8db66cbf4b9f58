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
#include "cogvideox_model.h"
#include "kern.h"
#include "log.h"
#include "safetensors.h"
#include "textfile.h"
#include "wan_model.h"
#include "worker_exit.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One input tensor as fp32, its batch axis first. */
struct input {
    const struct safetensors_tensor *t;
    float *data;
};

struct forward_io {
    const struct safetensors *st; /* INPUTS */
    const char *path;
    float *out;       /* sample, malloc'd by the family */
    int64_t shape[5]; /* sample's shape */
    double ms;        /* forward time, all batch entries */
    int layers;
};

/* Tensor `name` (first of the names that exists) with exactly `ndim` axes.
 * Caller frees in->data. */
static int read_input(const struct forward_io *io, const char *const *names, int ndim,
                      struct input *in, struct df_err *err)
{
    in->t = NULL;
    for (int i = 0; names[i] && !in->t; i++)
        in->t = safetensors_find(io->st, names[i]);
    DF_FAIL_IF(!in->t, err, DF_E_NOTFOUND, "%s: no tensor '%s'", io->path, names[0]);
    DF_FAIL_IF(in->t->ndim != ndim, err, DF_E_INVAL,
               "%s: tensor '%s' has %d dimensions, expected %d", io->path, in->t->name,
               in->t->ndim, ndim);
    in->data = malloc(((size_t)in->t->numel + 1) * sizeof *in->data);
    DF_FAIL_IF(!in->data, err, DF_E_NOMEM, "%s: out of memory for '%s'", io->path, in->t->name);
    return safetensors_to_f32(in->t, in->data, (size_t)in->t->numel, err);
}

/* A per-sample scalar ([B] or [1]) and the batch agreement of the others. */
static int check_batch(const struct forward_io *io, const struct input *scalar, int64_t B,
                       const struct input *text, struct df_err *err)
{
    DF_FAIL_IF(scalar->t->numel != B && scalar->t->numel != 1, err, DF_E_INVAL,
               "%s: '%s' has %lld values for a batch of %lld", io->path, scalar->t->name,
               (long long)scalar->t->numel, (long long)B);
    DF_FAIL_IF(text->t->shape[0] != B, err, DF_E_INVAL,
               "%s: encoder_hidden_states has batch %lld, hidden_states %lld", io->path,
               (long long)text->t->shape[0], (long long)B);
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static const char *const k_hidden_wan[] = {"hidden_states", "latent", NULL};
static const char *const k_hidden[] = {"hidden_states", NULL};
static const char *const k_text[] = {"encoder_hidden_states", NULL};
static const char *const k_timestep[] = {"timestep", NULL};
static const char *const k_ofs[] = {"ofs", NULL};

/* ---------------------------------------------------------------------------
 * Families
 * ------------------------------------------------------------------------- */

static int forward_wan(kern_backend_t be, const char *dir, struct forward_io *io,
                       struct df_err *err)
{
    struct wan_model *m = NULL;
    struct input hs = {0}, tx = {0}, ts = {0};
    int rc = wan_model_load(be, dir, &m, err);
    if (rc == 0)
        rc = read_input(io, k_hidden_wan, 5, &hs, err);
    if (rc == 0)
        rc = read_input(io, k_text, 3, &tx, err);
    if (rc == 0)
        rc = read_input(io, k_timestep, 1, &ts, err);
    const int64_t *s = hs.t ? hs.t->shape : NULL, B = s ? s[0] : 0;
    if (rc == 0)
        rc = check_batch(io, &ts, B, &tx, err);
    if (rc < 0)
        goto done;
    const struct wan_config *c = wan_model_config(m);
    if (s[1] != c->in_channels || tx.t->shape[2] != c->text_dim) {
        rc = df_err_set(err, DF_E_INVAL,
                        "%s: hidden_states has %lld channels and text %lld features; the model "
                        "wants %d and %d",
                        io->path, (long long)s[1], (long long)tx.t->shape[2], c->in_channels,
                        c->text_dim);
        goto done;
    }
    struct wan_shape sh = {.frames = (int)s[2], .height = (int)s[3], .width = (int)s[4],
                           .text_len = (int)tx.t->shape[1]};
    const size_t n_in = (size_t)s[1] * s[2] * s[3] * s[4];
    const size_t n_out = (size_t)c->out_channels * s[2] * s[3] * s[4];
    const size_t n_txt = (size_t)sh.text_len * c->text_dim;
    io->out = calloc((size_t)B * n_out, sizeof *io->out);
    if (!io->out) {
        rc = df_err_set(err, DF_E_NOMEM, "out of memory for the output");
        goto done;
    }
    if ((rc = wan_model_reserve(m, &sh, err)) < 0)
        goto done;
    double t0 = now_ms();
    for (int64_t b = 0; b < B && rc == 0; b++)
        rc = wan_model_forward(m, &sh, hs.data + b * n_in, ts.data[ts.t->numel == 1 ? 0 : b],
                               tx.data + b * n_txt, io->out + b * n_out, err);
    io->ms = now_ms() - t0;
    int64_t shape[5] = {B, c->out_channels, s[2], s[3], s[4]};
    memcpy(io->shape, shape, sizeof shape);
    io->layers = c->num_layers;
done:
    free(hs.data), free(tx.data), free(ts.data);
    wan_model_free(m);
    return rc;
}

static int forward_cogvideox(kern_backend_t be, const char *dir, struct forward_io *io,
                             struct df_err *err)
{
    struct cogvideox_model *m = NULL;
    struct input hs = {0}, tx = {0}, ts = {0}, of = {0};
    int rc = cogvideox_model_load(be, dir, &m, err);
    if (rc == 0)
        rc = read_input(io, k_hidden, 5, &hs, err);
    if (rc == 0)
        rc = read_input(io, k_text, 3, &tx, err);
    if (rc == 0)
        rc = read_input(io, k_timestep, 1, &ts, err);
    const int64_t *s = hs.t ? hs.t->shape : NULL, B = s ? s[0] : 0;
    if (rc == 0)
        rc = check_batch(io, &ts, B, &tx, err);
    if (rc == 0 && cogvideox_model_config(m)->ofs_embed_dim) {
        rc = read_input(io, k_ofs, 1, &of, err);
        if (rc == 0)
            rc = check_batch(io, &of, B, &tx, err);
        if (rc < 0)
            df_err_prefix(err, "this model has an ofs embedding");
    }
    if (rc < 0)
        goto done;
    const struct cogvideox_config *c = cogvideox_model_config(m);
    if (s[2] != c->in_channels || tx.t->shape[2] != c->text_dim) {
        rc = df_err_set(err, DF_E_INVAL,
                        "%s: hidden_states [B, F, C, H, W] has %lld channels and text %lld "
                        "features; the model wants %d and %d",
                        io->path, (long long)s[2], (long long)tx.t->shape[2], c->in_channels,
                        c->text_dim);
        goto done;
    }
    struct cogvideox_shape sh = {.frames = (int)s[1], .height = (int)s[3], .width = (int)s[4],
                                 .text_len = (int)tx.t->shape[1]};
    const size_t n_in = (size_t)s[1] * s[2] * s[3] * s[4];
    const size_t n_out = (size_t)s[1] * c->out_channels * s[3] * s[4];
    const size_t n_txt = (size_t)sh.text_len * c->text_dim;
    io->out = calloc((size_t)B * n_out, sizeof *io->out);
    if (!io->out) {
        rc = df_err_set(err, DF_E_NOMEM, "out of memory for the output");
        goto done;
    }
    if ((rc = cogvideox_model_reserve(m, &sh, err)) < 0)
        goto done;
    double t0 = now_ms();
    for (int64_t b = 0; b < B && rc == 0; b++) {
        const float ofs = of.data ? of.data[of.t->numel == 1 ? 0 : b] : 0.0f;
        rc = cogvideox_model_forward(m, &sh, hs.data + b * n_in,
                                     ts.data[ts.t->numel == 1 ? 0 : b], ofs, tx.data + b * n_txt,
                                     io->out + b * n_out, err);
    }
    io->ms = now_ms() - t0;
    int64_t shape[5] = {B, s[1], c->out_channels, s[3], s[4]};
    memcpy(io->shape, shape, sizeof shape);
    io->layers = c->num_layers;
done:
    free(hs.data), free(tx.data), free(ts.data), free(of.data);
    cogvideox_model_free(m);
    return rc;
}

/* config.json _class_name -> family (one row per supported family). */
static const struct {
    const char *class_name;
    int (*forward)(kern_backend_t be, const char *dir, struct forward_io *io, struct df_err *err);
} k_families[] = {
    {"WanTransformer3DModel", forward_wan},
    {"CogVideoXTransformer3DModel", forward_cogvideox},
};

/* The folder's _class_name into cls[cap]. */
static int class_name(const char *dir, char *cls, size_t cap, struct df_err *err)
{
    char path[4096], *text;
    DF_FAIL_IF((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path, err,
               DF_E_INVAL, "%s: path too long", dir);
    DF_TRY(textfile_read(path, (size_t)1 << 24, &text, NULL, err));
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *v = root ? cJSON_GetObjectItemCaseSensitive(root, "_class_name") : NULL;
    int rc = 0;
    if (!root)
        rc = df_err_set(err, DF_E_PARSE, "%s: not valid JSON", path);
    else if (!cJSON_IsString(v))
        rc = df_err_set(err, DF_E_PARSE, "%s: no string key '_class_name'", path);
    else
        snprintf(cls, cap, "%s", v->valuestring);
    cJSON_Delete(root);
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
    char cls[128];
    DF_TRY(class_name(dir, cls, sizeof cls, err));
    int fam = -1;
    for (size_t i = 0; i < sizeof k_families / sizeof k_families[0]; i++)
        if (strcmp(k_families[i].class_name, cls) == 0)
            fam = (int)i;
    DF_FAIL_IF(fam < 0, err, DF_E_UNSUPPORTED,
               "%s/config.json: _class_name '%s' is not a supported transformer "
               "(WanTransformer3DModel, CogVideoXTransformer3DModel)",
               dir, cls);
    kern_backend_t be = NULL;
    struct safetensors *in = NULL;
    struct forward_io io = {.path = in_path};
    int rc = kern_backend_create(backend, 0, &be, err);
    if (rc == 0)
        rc = safetensors_open(in_path, &in, err);
    io.st = in;
    if (rc == 0)
        rc = k_families[fam].forward(be, dir, &io, err);
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
               out_path, cls, (long long)io.shape[0], (long long)io.shape[1],
               (long long)io.shape[2], (long long)io.shape[3], (long long)io.shape[4], io.layers,
               io.ms, kern_backend_name(be));
        if (exp_path)
            rc = compare(exp_path, io.out, n, tol, err);
    }
    free(io.out);
    safetensors_close(in);
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
