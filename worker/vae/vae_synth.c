/* vae_synth.c -- synthetic Wan2.1 VAE weights for the demo model (vae_synth.h). */
#include "vae_synth.h"

#include "noise.h"
#include "safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SYNTH_MAX_TENSORS 256

struct synth {
    struct safetensors_entry e[SYNTH_MAX_TENSORS];
    char names[SYNTH_MAX_TENSORS][160];
    float *data[SYNTH_MAX_TENSORS];
    int n;
    unsigned long long seed;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

enum synth_kind { SYNTH_WEIGHT, SYNTH_BIAS, SYNTH_GAMMA };

static int add(struct synth *S, const char *name, enum synth_kind kind, int ndim,
               const int64_t *shape, struct df_err *err)
{
    DF_FAIL_IF(S->n == SYNTH_MAX_TENSORS, err, DF_E_INVAL, "vae_synth: too many tensors");
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++)
        numel *= shape[i];
    float *d = malloc((size_t)numel * sizeof(float));
    DF_FAIL_IF(!d, err, DF_E_NOMEM, "vae_synth: out of memory for '%s'", name);
    noise_fill(fnv1a(name) ^ S->seed, 0, (size_t)numel, d);
    double scale = kind == SYNTH_BIAS ? 0.02 : kind == SYNTH_GAMMA ? 0.1 : 1.0 / sqrt((double)(numel / shape[0]));
    for (int64_t i = 0; i < numel; i++)
        d[i] = (float)((kind == SYNTH_GAMMA ? 1.0 : 0.0) + scale * d[i]);
    struct safetensors_entry *e = &S->e[S->n];
    snprintf(S->names[S->n], sizeof(S->names[0]), "%s", name);
    e->name = S->names[S->n];
    e->dtype = SAFETENSORS_DTYPE_F32;
    e->ndim = ndim;
    memcpy(e->shape, shape, (size_t)ndim * sizeof(int64_t));
    e->data = d;
    S->data[S->n++] = d;
    return 0;
}

static int conv(struct synth *S, const char *prefix, int cin, int cout, int kt, int k, int is_2d,
                struct df_err *err)
{
    char name[160];
    int64_t w5[5] = {cout, cin, kt, k, k}, w4[4] = {cout, cin, k, k}, b[1] = {cout};
    snprintf(name, sizeof(name), "%s.weight", prefix);
    DF_TRY(add(S, name, SYNTH_WEIGHT, is_2d ? 4 : 5, is_2d ? w4 : w5, err));
    snprintf(name, sizeof(name), "%s.bias", prefix);
    return add(S, name, SYNTH_BIAS, 1, b, err);
}

static int rms(struct synth *S, const char *prefix, int dim, int images, struct df_err *err)
{
    char name[160];
    int64_t shape[4] = {dim, 1, 1, 1};
    snprintf(name, sizeof(name), "%s.gamma", prefix);
    return add(S, name, SYNTH_GAMMA, images ? 3 : 4, shape, err);
}

static int resblock(struct synth *S, const char *prefix, int cin, int cout, struct df_err *err)
{
    char p[96];
    snprintf(p, sizeof(p), "%s.norm1", prefix);
    DF_TRY(rms(S, p, cin, 0, err));
    snprintf(p, sizeof(p), "%s.conv1", prefix);
    DF_TRY(conv(S, p, cin, cout, 3, 3, 0, err));
    snprintf(p, sizeof(p), "%s.norm2", prefix);
    DF_TRY(rms(S, p, cout, 0, err));
    snprintf(p, sizeof(p), "%s.conv2", prefix);
    DF_TRY(conv(S, p, cout, cout, 3, 3, 0, err));
    if (cin != cout) {
        snprintf(p, sizeof(p), "%s.conv_shortcut", prefix);
        DF_TRY(conv(S, p, cin, cout, 1, 1, 0, err));
    }
    return 0;
}

/* The tensor list of WanDecoder3d for dim_mult [1,2,4,4] (see vae_load.c). */
static int build(struct synth *S, const struct vae_synth_opts *o, struct df_err *err)
{
    static const int mult[4] = {1, 2, 4, 4};
    static const int temporal_up[3] = {1, 1, 0};
    int dims[5] = {o->base_dim * 4};
    for (int i = 0; i < 4; i++)
        dims[i + 1] = o->base_dim * mult[3 - i];
    DF_TRY(conv(S, "post_quant_conv", o->z_dim, o->z_dim, 1, 1, 0, err));
    DF_TRY(conv(S, "decoder.conv_in", o->z_dim, dims[0], 3, 3, 0, err));
    DF_TRY(resblock(S, "decoder.mid_block.resnets.0", dims[0], dims[0], err));
    DF_TRY(rms(S, "decoder.mid_block.attentions.0.norm", dims[0], 1, err));
    DF_TRY(conv(S, "decoder.mid_block.attentions.0.to_qkv", dims[0], 3 * dims[0], 1, 1, 1, err));
    DF_TRY(conv(S, "decoder.mid_block.attentions.0.proj", dims[0], dims[0], 1, 1, 1, err));
    DF_TRY(resblock(S, "decoder.mid_block.resnets.1", dims[0], dims[0], err));
    for (int i = 0; i < 4; i++) {
        int cin = i > 0 ? dims[i] / 2 : dims[i], cout = dims[i + 1];
        char p[96];
        for (int j = 0; j <= o->num_res_blocks; j++) {
            snprintf(p, sizeof(p), "decoder.up_blocks.%d.resnets.%d", i, j);
            DF_TRY(resblock(S, p, j == 0 ? cin : cout, cout, err));
        }
        if (i == 3)
            continue;
        snprintf(p, sizeof(p), "decoder.up_blocks.%d.upsamplers.0.resample.1", i);
        DF_TRY(conv(S, p, cout, cout / 2, 1, 3, 1, err));
        if (temporal_up[i]) {
            snprintf(p, sizeof(p), "decoder.up_blocks.%d.upsamplers.0.time_conv", i);
            DF_TRY(conv(S, p, cout, 2 * cout, 3, 1, 0, err));
        }
    }
    DF_TRY(rms(S, "decoder.norm_out", dims[4], 0, err));
    return conv(S, "decoder.conv_out", dims[4], 3, 3, 3, 0, err);
}

static int write_config(const char *dir, const struct vae_synth_opts *o, struct df_err *err)
{
    char path[600], tmp[620];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return df_err_errno(err, DF_E_IO, "%s: cannot create", tmp);
    /* latents_mean/std: Wan2.1's own statistics, so de-normalization is exercised. */
    fprintf(f,
            "{\n  \"_class_name\": \"AutoencoderKLWan\",\n  \"_ditfarm_synthetic\": true,\n"
            "  \"base_dim\": %d,\n  \"z_dim\": %d,\n  \"dim_mult\": [1, 2, 4, 4],\n"
            "  \"num_res_blocks\": %d,\n  \"attn_scales\": [],\n"
            "  \"temperal_downsample\": [false, true, true],\n  \"dropout\": 0.0,\n",
            o->base_dim, o->z_dim, o->num_res_blocks);
    fprintf(f, "  \"latents_mean\": [");
    for (int i = 0; i < o->z_dim; i++)
        fprintf(f, "%s%.4f", i ? ", " : "", 0.1 * sin(i + 1.0));
    fprintf(f, "],\n  \"latents_std\": [");
    for (int i = 0; i < o->z_dim; i++)
        fprintf(f, "%s%.4f", i ? ", " : "", 1.0 + 0.5 * cos(i + 1.0) * cos(i + 1.0));
    fprintf(f, "]\n}\n");
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        df_err_errno(err, DF_E_IO, "%s: cannot write", path);
        remove(tmp);
        return DF_E_IO;
    }
    return 0;
}

int vae_synth_write(const char *dir, const struct vae_synth_opts *o, struct df_err *err)
{
    DF_FAIL_IF(o->base_dim < 1 || o->z_dim < 1 || o->z_dim > 64 || o->num_res_blocks < 0 ||
                   o->num_res_blocks > 6,
               err, DF_E_INVAL, "vae_synth: bad options (base_dim %d, z_dim %d, res %d)",
               o->base_dim, o->z_dim, o->num_res_blocks);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return df_err_errno(err, DF_E_IO, "%s: cannot create directory", dir);
    struct synth *S = calloc(1, sizeof(*S));
    DF_FAIL_IF(!S, err, DF_E_NOMEM, "vae_synth: out of memory");
    S->seed = o->seed;
    char path[600];
    snprintf(path, sizeof(path), "%s/diffusion_pytorch_model.safetensors", dir);
    int rc = build(S, o, err);
    if (rc == 0)
        rc = safetensors_write(path, S->e, S->n, NULL, 0, err);
    if (rc == 0)
        rc = write_config(dir, o, err);
    for (int i = 0; i < S->n; i++)
        free(S->data[i]);
    free(S);
    return rc;
}
