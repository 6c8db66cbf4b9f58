/*
 * vae_load.c -- read a diffusers AutoencoderKLWan folder (config.json +
 * safetensors) into struct vae.  The weight names mirror diffusers' module
 * tree; ref: diffusers/models/autoencoders/autoencoder_kl_wan.py
 * (WanDecoder3d, WanUpBlock, WanResidualBlock, WanAttentionBlock, WanResample).
 */
#include "vae_int.h"
#include "ckd.h"
#include "textfile.h"

#include "safetensors.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_BYTES (1 << 20)

struct loader {
    struct vae *vae;
    const struct safetensors *st;
    char dir[512];
};

static int read_text(const char *path, char **out, struct df_err *err)
{
    return textfile_read(path, CONFIG_MAX_BYTES, out, NULL, err);
}

static int json_int(const cJSON *root, const char *key, int def, int lo, int hi, int *out,
                    const char *path, struct df_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || ckd_double_to_int(v->valuedouble, INT_MIN, INT_MAX, out))
        return df_err_set(err, DF_E_PARSE, "%s: '%s' must be an integer", path, key);
    if (*out < lo || *out > hi)
        return df_err_set(err, DF_E_RANGE, "%s: '%s' is %d, allowed %d..%d", path, key, *out,
                          lo, hi);
    return 0;
}

/* An array of finite numbers (ints or floats) or booleans, length n_expect
 * (or any length <= cap when n_expect < 0). */
static int json_array(const cJSON *root, const char *key, double *vals, int cap, int n_expect,
                      int *n_out, const char *path, struct df_err *err)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsArray(a))
        return df_err_set(err, DF_E_PARSE, "%s: '%s' must be an array", path, key);
    int n = cJSON_GetArraySize(a);
    if ((n_expect >= 0 && n != n_expect) || n > cap)
        return df_err_set(err, DF_E_PARSE, "%s: '%s' has %d entries, expected %s%d", path, key, n,
                          n_expect >= 0 ? "" : "at most ", n_expect >= 0 ? n_expect : cap);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (cJSON_IsBool(e))
            vals[i] = cJSON_IsTrue(e) ? 1.0 : 0.0;
        else if (cJSON_IsNumber(e) && isfinite(e->valuedouble))
            vals[i] = e->valuedouble;
        else
            return df_err_set(err, DF_E_PARSE, "%s: '%s'[%d] must be a finite number", path, key,
                              i);
        i++;
    }
    *n_out = n;
    return 0;
}

/* Everything the decoder takes from config.json. */
struct vae_config {
    struct vae_info info;
    int dim_mult[VAE_MAX_STAGES];    /* encoder order, each in [1, VAE_MAX_DIM_MULT] */
    int temporal_up[VAE_MAX_STAGES]; /* decoder order: 1 = this up block doubles time */
    float mean[64], std[64];         /* latents_mean / latents_std, z_dim entries */
};

/* The width multipliers: integers in [1, VAE_MAX_DIM_MULT], so every channel
 * count base_dim * mult is positive and bounded (a negative or huge one made
 * tensor shapes that wrapped to 2^64-byte allocations). */
static int read_dim_mult(const cJSON *root, struct vae_config *c, const char *path,
                         struct df_err *err)
{
    double vals[VAE_MAX_STAGES];
    int n = 0;
    DF_TRY(json_array(root, "dim_mult", vals, VAE_MAX_STAGES, -1, &n, path, err));
    DF_FAIL_IF(n < 1, err, DF_E_PARSE, "%s: 'dim_mult' is empty", path);
    for (int i = 0; i < n; i++)
        DF_FAIL_IF(ckd_double_to_int(vals[i], 1, VAE_MAX_DIM_MULT, &c->dim_mult[i]), err,
                   DF_E_RANGE, "%s: 'dim_mult'[%d] = %g must be an integer in [1, %d]", path, i,
                   vals[i], VAE_MAX_DIM_MULT);
    c->info.n_stages = n;
    DF_TRY(json_array(root, "temperal_downsample", vals, VAE_MAX_STAGES, n - 1, &n, path, err));
    /* The decoder up-samples in reverse order of the encoder's down-sampling. */
    c->info.stride_t = 1;
    for (int i = 0; i < n; i++) {
        c->temporal_up[i] = vals[n - 1 - i] != 0.0;
        c->info.stride_t *= c->temporal_up[i] ? 2 : 1;
    }
    c->info.stride_s = 1 << (c->info.n_stages - 1);
    return 0;
}

static int read_latent_stats(const cJSON *root, struct vae_config *c, const char *path,
                             struct df_err *err)
{
    double vals[64];
    int n = 0;
    DF_TRY(json_array(root, "latents_mean", vals, 64, c->info.z_dim, &n, path, err));
    for (int i = 0; i < n; i++)
        c->mean[i] = (float)vals[i];
    DF_TRY(json_array(root, "latents_std", vals, 64, c->info.z_dim, &n, path, err));
    for (int i = 0; i < n; i++) {
        c->std[i] = (float)vals[i];
        DF_FAIL_IF(!isfinite(c->std[i]) || !isfinite(c->mean[i]), err, DF_E_RANGE,
                   "%s: latents_mean/latents_std[%d] overflow a float", path, i);
    }
    return 0;
}

static int parse_config_json(const cJSON *root, struct vae_config *c, const char *path,
                             struct df_err *err)
{
    struct vae_info *in = &c->info;
    int dec_base = 0, out_ch = 3;
    DF_FAIL_IF(!cJSON_IsObject(root), err, DF_E_PARSE, "%s: not a JSON object", path);
    const cJSON *patch = cJSON_GetObjectItemCaseSensitive(root, "patch_size");
    const cJSON *resid = cJSON_GetObjectItemCaseSensitive(root, "is_residual");
    DF_TRY(json_int(root, "z_dim", 16, 1, 64, &in->z_dim, path, err));
    DF_TRY(json_int(root, "base_dim", 96, 1, 4096, &in->base_dim, path, err));
    DF_TRY(json_int(root, "decoder_base_dim", 0, 0, 4096, &dec_base, path, err));
    DF_TRY(json_int(root, "num_res_blocks", 2, 0, VAE_MAX_RES - 1, &in->num_res_blocks, path,
                    err));
    DF_TRY(json_int(root, "out_channels", 3, 3, 3, &out_ch, path, err));
    if (dec_base > 0)
        in->base_dim = dec_base;
    DF_FAIL_IF(cJSON_IsTrue(resid) || (patch && !cJSON_IsNull(patch)), err, DF_E_UNSUPPORTED,
               "%s: is_residual/patch_size VAEs (Wan2.2) are not supported; "
               "this decoder implements Wan2.1's AutoencoderKLWan",
               path);
    DF_TRY(read_dim_mult(root, c, path, err));
    return read_latent_stats(root, c, path, err);
}

/* Read and check `<dir>/config.json` into *c (no weights). */
static int config_load(const char *dir, struct vae_config *c, struct df_err *err)
{
    char path[600];
    memset(c, 0, sizeof(*c));
    DF_FAIL_IF(snprintf(path, sizeof(path), "%s/config.json", dir) >= (int)sizeof(path), err,
               DF_E_RANGE, "%.64s...: VAE folder path too long", dir);
    char *text = NULL;
    DF_TRY(read_text(path, &text, err));
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root)
        return df_err_set(err, DF_E_PARSE, "%s: not valid JSON", path);
    int rc = parse_config_json(root, c, path, err);
    cJSON_Delete(root);
    return rc;
}

int vae_config_check(const char *dir, struct vae_info *out, struct df_err *err)
{
    struct vae_config c;
    int rc = config_load(dir, &c, err);
    if (rc < 0) {
        df_err_prefix(err, "VAE %s", dir);
        return rc;
    }
    if (out)
        *out = c.info;
    return 0;
}

int vae_config_parse(const char *text, size_t len, struct vae_info *out, struct df_err *err)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root)
        return df_err_set(err, DF_E_PARSE, "config.json: not valid JSON");
    struct vae_config c;
    memset(&c, 0, sizeof(c));
    int rc = parse_config_json(root, &c, "config.json", err);
    cJSON_Delete(root);
    if (rc == 0 && out)
        *out = c.info;
    return rc;
}

/* Read tensor `name` with the given shape into a fresh host array. */
static int load_f32(struct loader *L, const char *name, int ndim, const int64_t *shape,
                    float **out, struct df_err *err)
{
    /* Look the tensor up first: once its shape matches the file's, the
     * allocation is bounded by the file, whatever the config said. */
    const struct safetensors_tensor *t;
    DF_TRY(safetensors_get(L->st, name, ndim, shape, &t, err));
    float *buf = malloc(((size_t)t->numel ? (size_t)t->numel : 1) * sizeof(float));
    if (!buf)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory for '%s'", L->dir, name);
    int rc = safetensors_to_f32(t, buf, (size_t)t->numel, err);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

static int load_bias(struct loader *L, const char *prefix, int n, float **out, struct df_err *err)
{
    char name[256];
    snprintf(name, sizeof(name), "%s.bias", prefix);
    int64_t shape[1] = {n};
    float *host = NULL;
    DF_TRY(load_f32(L, name, 1, shape, &host, err));
    float *dev = kern_alloc(L->vae->be, (size_t)n, err);
    int rc = dev ? kern_upload(L->vae->be, dev, host, (size_t)n, err) : DF_E_NOMEM;
    free(host);
    if (rc < 0) {
        kern_release(L->vae->be, dev);
        return rc;
    }
    *out = dev;
    return 0;
}

/* A conv weight [cout, cin, (kt,) kh, kw] as a [cout, cin·kt·kh·kw] matrix.
 * conv2d weights (4 dims) are convs with kt = 1. */
static int load_conv(struct loader *L, const char *prefix, int cin, int cout, int kt, int kh,
                     int kw, int is_2d, struct vae_conv *c, struct df_err *err)
{
    memset(c, 0, sizeof(*c));
    c->cin = cin, c->cout = cout, c->kt = kt, c->kh = kh, c->kw = kw;
    char name[256];
    snprintf(name, sizeof(name), "%s.weight", prefix);
    int64_t shape5[5] = {cout, cin, kt, kh, kw};
    int64_t shape4[4] = {cout, cin, kh, kw};
    float *host = NULL;
    DF_TRY(load_f32(L, name, is_2d ? 4 : 5, is_2d ? shape4 : shape5, &host, err));
    int rc = kern_weight_create(L->vae->be, host, cout, cin * kt * kh * kw, &c->w, err);
    free(host);
    DF_TRY(rc);
    return load_bias(L, prefix, cout, &c->bias, err);
}

static int load_rms(struct loader *L, const char *prefix, int dim, int images, struct vae_rms *r,
                    struct df_err *err)
{
    char name[256];
    snprintf(name, sizeof(name), "%s.gamma", prefix);
    int64_t shape[4] = {dim, 1, 1, 1};
    float *host = NULL;
    DF_TRY(load_f32(L, name, images ? 3 : 4, shape, &host, err));
    r->dim = dim;
    r->gamma = kern_alloc(L->vae->be, (size_t)dim, err);
    int rc = r->gamma ? kern_upload(L->vae->be, r->gamma, host, (size_t)dim, err) : DF_E_NOMEM;
    free(host);
    return rc;
}

static int load_resblock(struct loader *L, const char *prefix, int cin, int cout,
                         struct vae_resblock *b, struct df_err *err)
{
    char p[256];
    snprintf(p, sizeof(p), "%s.norm1", prefix);
    DF_TRY(load_rms(L, p, cin, 0, &b->norm1, err));
    snprintf(p, sizeof(p), "%s.conv1", prefix);
    DF_TRY(load_conv(L, p, cin, cout, 3, 3, 3, 0, &b->conv1, err));
    snprintf(p, sizeof(p), "%s.norm2", prefix);
    DF_TRY(load_rms(L, p, cout, 0, &b->norm2, err));
    snprintf(p, sizeof(p), "%s.conv2", prefix);
    DF_TRY(load_conv(L, p, cout, cout, 3, 3, 3, 0, &b->conv2, err));
    b->has_shortcut = cin != cout;
    if (b->has_shortcut) {
        snprintf(p, sizeof(p), "%s.conv_shortcut", prefix);
        DF_TRY(load_conv(L, p, cin, cout, 1, 1, 1, 0, &b->shortcut, err));
    }
    return 0;
}

static int load_attn(struct loader *L, const char *prefix, int dim, struct vae_attn *a,
                     struct df_err *err)
{
    char p[256];
    struct vae_conv tmp;
    a->dim = dim;
    snprintf(p, sizeof(p), "%s.norm", prefix);
    DF_TRY(load_rms(L, p, dim, 1, &a->norm, err));
    snprintf(p, sizeof(p), "%s.to_qkv", prefix);
    DF_TRY(load_conv(L, p, dim, 3 * dim, 1, 1, 1, 1, &tmp, err));
    a->qkv = tmp.w, a->qkv_bias = tmp.bias;
    snprintf(p, sizeof(p), "%s.proj", prefix);
    DF_TRY(load_conv(L, p, dim, dim, 1, 1, 1, 1, &tmp, err));
    a->proj = tmp.w, a->proj_bias = tmp.bias;
    return 0;
}

static int load_decoder(struct loader *L, const int *dim_mult, const int *temporal_up,
                        struct df_err *err)
{
    struct vae *v = L->vae;
    const struct vae_info *in = &v->info;
    int n = in->n_stages;
    /* dims = base·[dim_mult[-1]] + base·reversed(dim_mult) (WanDecoder3d.__init__) */
    int dims[VAE_MAX_STAGES + 1];
    dims[0] = in->base_dim * dim_mult[n - 1];
    for (int i = 0; i < n; i++)
        dims[i + 1] = in->base_dim * dim_mult[n - 1 - i];

    DF_TRY(load_conv(L, "post_quant_conv", in->z_dim, in->z_dim, 1, 1, 1, 0, &v->post_quant, err));
    DF_TRY(load_conv(L, "decoder.conv_in", in->z_dim, dims[0], 3, 3, 3, 0, &v->conv_in, err));
    DF_TRY(load_resblock(L, "decoder.mid_block.resnets.0", dims[0], dims[0], &v->mid_res[0], err));
    DF_TRY(load_attn(L, "decoder.mid_block.attentions.0", dims[0], &v->mid_attn, err));
    DF_TRY(load_resblock(L, "decoder.mid_block.resnets.1", dims[0], dims[0], &v->mid_res[1], err));

    for (int i = 0; i < n; i++) {
        struct vae_upblock *u = &v->up[i];
        /* Wan2.1: every block after the first receives the previous
         * up-sampler's halved width. */
        int cin = i > 0 ? dims[i] / 2 : dims[i];
        int cout = dims[i + 1];
        u->n_res = in->num_res_blocks + 1;
        char p[256];
        for (int j = 0; j < u->n_res; j++) {
            snprintf(p, sizeof(p), "decoder.up_blocks.%d.resnets.%d", i, j);
            DF_TRY(load_resblock(L, p, j == 0 ? cin : cout, cout, &u->res[j], err));
        }
        u->mode = i == n - 1 ? VAE_UP_NONE : temporal_up[i] ? VAE_UP_3D : VAE_UP_2D;
        if (u->mode == VAE_UP_NONE)
            continue;
        snprintf(p, sizeof(p), "decoder.up_blocks.%d.upsamplers.0.resample.1", i);
        DF_TRY(load_conv(L, p, cout, cout / 2, 1, 3, 3, 1, &u->resample, err));
        if (u->mode == VAE_UP_3D) {
            snprintf(p, sizeof(p), "decoder.up_blocks.%d.upsamplers.0.time_conv", i);
            DF_TRY(load_conv(L, p, cout, 2 * cout, 3, 1, 1, 0, &u->time_conv, err));
        }
    }
    DF_TRY(load_rms(L, "decoder.norm_out", dims[n], 0, &v->norm_out, err));
    DF_TRY(load_conv(L, "decoder.conv_out", dims[n], 3, 3, 3, 3, 0, &v->conv_out, err));
    return 0;
}

int vae_load(kern_backend_t be, const char *dir, struct vae **out, struct df_err *err)
{
    struct vae *v = calloc(1, sizeof(*v));
    if (!v)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", dir);
    v->be = be;
    struct vae_config c;
    struct safetensors *st = NULL;
    int rc = config_load(dir, &c, err);
    if (rc == 0) {
        v->info = c.info;
        memcpy(v->mean, c.mean, sizeof(v->mean));
        memcpy(v->std, c.std, sizeof(v->std));
    }
    if (rc == 0)
        rc = safetensors_open_model(dir, "diffusion_pytorch_model", &st, err);
    if (rc == 0) {
        struct loader L = {.vae = v, .st = st};
        snprintf(L.dir, sizeof(L.dir), "%s", dir);
        rc = load_decoder(&L, c.dim_mult, c.temporal_up, err);
    }
    safetensors_close(st);
    if (rc < 0) {
        df_err_prefix(err, "VAE %s", dir);
        vae_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

static void conv_free(kern_backend_t be, struct vae_conv *c)
{
    kern_weight_free(be, c->w);
    kern_release(be, c->bias);
    kern_release(be, c->cache);
}

static void res_free(kern_backend_t be, struct vae_resblock *b)
{
    kern_release(be, b->norm1.gamma);
    kern_release(be, b->norm2.gamma);
    conv_free(be, &b->conv1);
    conv_free(be, &b->conv2);
    conv_free(be, &b->shortcut);
}

void vae_free(struct vae *v)
{
    if (!v)
        return;
    kern_backend_t be = v->be;
    conv_free(be, &v->post_quant);
    conv_free(be, &v->conv_in);
    res_free(be, &v->mid_res[0]);
    res_free(be, &v->mid_res[1]);
    kern_release(be, v->mid_attn.norm.gamma);
    kern_weight_free(be, v->mid_attn.qkv);
    kern_release(be, v->mid_attn.qkv_bias);
    kern_weight_free(be, v->mid_attn.proj);
    kern_release(be, v->mid_attn.proj_bias);
    for (int i = 0; i < VAE_MAX_STAGES; i++) {
        for (int j = 0; j < v->up[i].n_res; j++)
            res_free(be, &v->up[i].res[j]);
        conv_free(be, &v->up[i].resample);
        conv_free(be, &v->up[i].time_conv);
    }
    kern_release(be, v->norm_out.gamma);
    conv_free(be, &v->conv_out);
    kern_release(be, v->cols);
    kern_release(be, v->attn_tmp);
    for (int i = 0; i < v->n_pool; i++)
        kern_release(be, v->pool[i].d);
    free(v);
}

const struct vae_info *vae_get_info(const struct vae *vae)
{
    return &vae->info;
}

void vae_output_size(const struct vae *vae, int T, int h, int w, int *frames, int *height,
                     int *width)
{
    *frames = 1 + vae->info.stride_t * (T - 1);
    *height = vae->info.stride_s * h;
    *width = vae->info.stride_s * w;
}

void vae_denormalize(const struct vae *vae, float *latent, int T, int h, int w)
{
    size_t plane = (size_t)T * h * w;
    for (int c = 0; c < vae->info.z_dim; c++)
        for (size_t i = 0; i < plane; i++)
            latent[c * plane + i] = latent[c * plane + i] * vae->std[c] + vae->mean[c];
}
