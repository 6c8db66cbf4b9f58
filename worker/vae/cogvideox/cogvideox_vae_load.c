/*
 * cogvideox_vae_load.c -- config.json and decoder.* weights of a diffusers
 * AutoencoderKLCogVideoX folder.
 *
 * ref: diffusers/models/autoencoders/autoencoder_kl_cogvideox.py (0.42.1)
 *   AutoencoderKLCogVideoX.__init__ (defaults, tiling sizes),
 *   CogVideoXDecoder3D.__init__ (conv_in, mid_block with 2 resnets, up_blocks
 *   with layers_per_block + 1 resnets and an upsampler except the last,
 *   compress_time for the first log2(temporal_compression_ratio), norm_out,
 *   conv_out), CogVideoXResnetBlock3D (norm1/norm2 spatial norms, conv1/conv2
 *   causal, conv_shortcut 1x1x1 when channels change), CogVideoXSpatialNorm3D
 *   (norm_layer, conv_y, conv_b), upsampling.py CogVideoXUpsample3D (Conv2d).
 */
#include "cogvideox_vae_int.h"

#include "safetensors.h"
#include "textfile.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * Config
 * ------------------------------------------------------------------------- */

struct vcfg {
    struct cogvideox_vae_info info;
    int ch[CVAE_MAX_LEVELS];
    int layers_per_block, groups, out_channels;
    double eps;
};

static int get_int(const char *path, const cJSON *root, const char *key, int def, int *out,
                   struct df_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) {
        *out = def;
        return 0;
    }
    DF_FAIL_IF(!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
                   fabs(v->valuedouble) > 1 << 20,
               err, DF_E_PARSE, "%s: key '%s' must be an integer", path, key);
    *out = (int)v->valuedouble;
    return 0;
}

static int check_strings(const char *path, const cJSON *root, const char *key, const char *want,
                         int n_want, struct df_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v)
        return 0;
    DF_FAIL_IF(!cJSON_IsArray(v) || cJSON_GetArraySize(v) != n_want, err, DF_E_PARSE,
               "%s: key '%s' must list %d block types", path, key, n_want);
    for (int i = 0; i < n_want; i++) {
        const cJSON *e = cJSON_GetArrayItem(v, i);
        DF_FAIL_IF(!cJSON_IsString(e) || strcmp(e->valuestring, want), err, DF_E_UNSUPPORTED,
                   "%s: %s[%d] must be %s", path, key, i, want);
    }
    return 0;
}

static int parse_cfg(const char *path, const cJSON *root, struct vcfg *c, struct df_err *err)
{
    DF_FAIL_IF(!cJSON_IsObject(root), err, DF_E_PARSE, "%s: not a JSON object", path);
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "_class_name");
    DF_FAIL_IF(cls && (!cJSON_IsString(cls) || strcmp(cls->valuestring, "AutoencoderKLCogVideoX")),
               err, DF_E_UNSUPPORTED, "%s: _class_name is %s, expected AutoencoderKLCogVideoX",
               path, cJSON_IsString(cls) ? cls->valuestring : "not a string");
    const cJSON *bo = cJSON_GetObjectItemCaseSensitive(root, "block_out_channels");
    int n = 4;
    const int def[4] = {128, 256, 256, 512};
    if (bo) {
        DF_FAIL_IF(!cJSON_IsArray(bo) || cJSON_GetArraySize(bo) < 1 ||
                       cJSON_GetArraySize(bo) > CVAE_MAX_LEVELS,
                   err, DF_E_PARSE, "%s: block_out_channels must be a list of 1..%d integers",
                   path, CVAE_MAX_LEVELS);
        n = cJSON_GetArraySize(bo);
    }
    for (int i = 0; i < n; i++) {
        const cJSON *e = bo ? cJSON_GetArrayItem(bo, i) : NULL;
        DF_FAIL_IF(e && (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) ||
                         e->valuedouble < 1 || e->valuedouble > 1 << 16),
                   err, DF_E_PARSE, "%s: block_out_channels[%d] must be a positive integer",
                   path, i);
        c->ch[i] = e ? (int)e->valuedouble : def[i];
    }
    c->info.levels = n;
    DF_TRY(check_strings(path, root, "up_block_types", "CogVideoXUpBlock3D", n, err));
    int tcr = 0; /* set by get_int; initialised for -O2 -Werror=maybe-uninitialized */
    DF_TRY(get_int(path, root, "latent_channels", 16, &c->info.latent_channels, err));
    DF_TRY(get_int(path, root, "out_channels", 3, &c->out_channels, err));
    DF_TRY(get_int(path, root, "layers_per_block", 3, &c->layers_per_block, err));
    DF_TRY(get_int(path, root, "norm_num_groups", 32, &c->groups, err));
    DF_TRY(get_int(path, root, "temporal_compression_ratio", 4, &tcr, err));
    DF_TRY(get_int(path, root, "sample_height", 480, &c->info.sample_height, err));
    DF_TRY(get_int(path, root, "sample_width", 720, &c->info.sample_width, err));
    const cJSON *sf = cJSON_GetObjectItemCaseSensitive(root, "scaling_factor");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "norm_eps");
    DF_FAIL_IF((sf && !cJSON_IsNumber(sf)) || (eps && !cJSON_IsNumber(eps)), err, DF_E_PARSE,
               "%s: scaling_factor and norm_eps must be numbers", path);
    c->info.scaling_factor = sf ? sf->valuedouble : 1.15258426;
    c->eps = eps ? eps->valuedouble : 1e-6;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "act_fn");
    DF_FAIL_IF(act && (!cJSON_IsString(act) || (strcmp(act->valuestring, "silu") &&
                                                strcmp(act->valuestring, "swish"))),
               err, DF_E_UNSUPPORTED, "%s: act_fn must be silu", path);
    static const char *const refused[] = {"use_post_quant_conv", "invert_scale_latents"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, refused[i]);
        DF_FAIL_IF(cJSON_IsTrue(v), err, DF_E_UNSUPPORTED, "%s: %s true is not supported", path,
                   refused[i]);
    }
    const cJSON *shift = cJSON_GetObjectItemCaseSensitive(root, "shift_factor");
    DF_FAIL_IF(shift && !cJSON_IsNull(shift), err, DF_E_UNSUPPORTED,
               "%s: shift_factor is not supported (the CogVideoX pipelines ignore it too)", path);
    DF_FAIL_IF(c->info.latent_channels < 1 || c->out_channels < 1 || c->layers_per_block < 0 ||
                   c->layers_per_block > 64 || c->groups < 1,
               err, DF_E_RANGE, "%s: a size key is out of range", path);
    for (int i = 0; i < n; i++)
        DF_FAIL_IF(c->ch[i] % c->groups, err, DF_E_RANGE,
                   "%s: block_out_channels[%d] = %d is not a multiple of norm_num_groups %d", path,
                   i, c->ch[i], c->groups);
    int lg = 0;
    while ((1 << lg) < tcr)
        lg++;
    DF_FAIL_IF(tcr < 1 || (1 << lg) != tcr || lg > n - 1, err, DF_E_RANGE,
               "%s: temporal_compression_ratio %d must be a power of two up to 2^(levels-1)",
               path, tcr);
    c->info.stride_t = tcr;
    c->info.stride_s = 1 << (n - 1);
    DF_FAIL_IF(!(c->info.scaling_factor > 0) || !(c->eps > 0), err, DF_E_RANGE,
               "%s: scaling_factor and norm_eps must be > 0", path);
    DF_FAIL_IF(c->info.sample_height < 2 || c->info.sample_width < 2, err, DF_E_RANGE,
               "%s: sample_height/sample_width too small", path);
    return 0;
}

static int load_cfg(const char *dir, struct vcfg *c, struct df_err *err)
{
    char path[4096], *text;
    memset(c, 0, sizeof *c);
    DF_FAIL_IF((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path, err,
               DF_E_INVAL, "%s: path too long", dir);
    DF_TRY(textfile_read(path, (size_t)1 << 20, &text, NULL, err));
    cJSON *root = cJSON_Parse(text);
    free(text);
    int rc = root ? parse_cfg(path, root, c, err)
                  : df_err_set(err, DF_E_PARSE, "%s: not valid JSON", path);
    cJSON_Delete(root);
    return rc;
}

int cogvideox_vae_config_check(const char *dir, struct cogvideox_vae_info *info,
                               struct df_err *err)
{
    struct vcfg c;
    DF_TRY(load_cfg(dir, &c, err));
    if (info)
        *info = c.info;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Weights
 * ------------------------------------------------------------------------- */

struct loader {
    kern_backend_t be;
    const struct safetensors *st;
    float *buf;
    size_t cap;
    struct df_err *err;
};

static int read_tensor(struct loader *ld, const char *name, int ndim, const int64_t *shape,
                       size_t *n_out)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    if (n > ld->cap) {
        float *p = realloc(ld->buf, n * sizeof *p);
        DF_FAIL_IF(!p, ld->err, DF_E_NOMEM, "out of memory reading '%s'", name);
        ld->buf = p, ld->cap = n;
    }
    *n_out = n;
    return safetensors_read_f32(ld->st, name, ndim, shape, ld->buf, ld->err);
}

static int device_vec(struct loader *ld, const char *name, int n, float **out)
{
    size_t got = 0;
    const int64_t shape[1] = {n};
    DF_TRY(read_tensor(ld, name, 1, shape, &got));
    *out = kern_alloc(ld->be, got, ld->err);
    if (!*out)
        return ld->err && ld->err->code ? ld->err->code : DF_E_NOMEM;
    return kern_upload(ld->be, *out, ld->buf, got, ld->err);
}

/* `<prefix>.weight` [cout, cin, kt, k, k] (kt 0: a Conv2d [cout, cin, k, k])
 * and `<prefix>.bias`. */
static int conv(struct loader *ld, struct cv_conv *c, const char *prefix, int cin, int cout,
                int kt, int k)
{
    char name[256];
    memset(c, 0, sizeof *c);
    c->cin = cin, c->cout = cout, c->kt = kt ? kt : 1, c->k = k;
    const int64_t s5[5] = {cout, cin, kt, k, k}, s4[4] = {cout, cin, k, k};
    size_t n = 0;
    snprintf(name, sizeof name, "%s.weight", prefix);
    DF_TRY(read_tensor(ld, name, kt ? 5 : 4, kt ? s5 : s4, &n));
    DF_TRY(kern_weight_create(ld->be, ld->buf, cout, cin * c->kt * k * k, &c->w, ld->err));
    snprintf(name, sizeof name, "%s.bias", prefix);
    return device_vec(ld, name, cout, &c->b);
}

static int snorm(struct loader *ld, struct cv_snorm *s, const char *prefix, int c, int zc)
{
    char name[256];
    size_t n = 0;
    const int64_t shape[1] = {c};
    s->c = c;
    s->gamma = malloc((size_t)c * sizeof(float));
    s->beta = malloc((size_t)c * sizeof(float));
    DF_FAIL_IF(!s->gamma || !s->beta, ld->err, DF_E_NOMEM, "out of memory");
    snprintf(name, sizeof name, "%s.norm_layer.weight", prefix);
    DF_TRY(read_tensor(ld, name, 1, shape, &n));
    memcpy(s->gamma, ld->buf, n * sizeof(float));
    snprintf(name, sizeof name, "%s.norm_layer.bias", prefix);
    DF_TRY(read_tensor(ld, name, 1, shape, &n));
    memcpy(s->beta, ld->buf, n * sizeof(float));
    snprintf(name, sizeof name, "%s.conv_y.conv", prefix);
    DF_TRY(conv(ld, &s->conv_y, name, zc, c, 1, 1));
    snprintf(name, sizeof name, "%s.conv_b.conv", prefix);
    return conv(ld, &s->conv_b, name, zc, c, 1, 1);
}

static int resnet(struct loader *ld, struct cv_resnet *r, const char *prefix, int cin, int cout,
                  int zc)
{
    char name[256];
    r->cin = cin, r->cout = cout;
    snprintf(name, sizeof name, "%s.norm1", prefix);
    DF_TRY(snorm(ld, &r->norm1, name, cin, zc));
    snprintf(name, sizeof name, "%s.conv1.conv", prefix);
    DF_TRY(conv(ld, &r->conv1, name, cin, cout, 3, 3));
    snprintf(name, sizeof name, "%s.norm2", prefix);
    DF_TRY(snorm(ld, &r->norm2, name, cout, zc));
    snprintf(name, sizeof name, "%s.conv2.conv", prefix);
    DF_TRY(conv(ld, &r->conv2, name, cout, cout, 3, 3));
    r->has_shortcut = cin != cout;
    if (!r->has_shortcut)
        return 0;
    snprintf(name, sizeof name, "%s.conv_shortcut", prefix);
    return conv(ld, &r->shortcut, name, cin, cout, 1, 1);
}

static int load_weights(struct cogvideox_vae *v, struct loader *ld)
{
    const int n = v->info.levels, zc = v->info.latent_channels;
    int rc[CVAE_MAX_LEVELS]; /* reversed block_out_channels */
    for (int i = 0; i < n; i++)
        rc[i] = v->ch[n - 1 - i];
    int log_t = 0;
    while ((1 << log_t) < v->info.stride_t)
        log_t++;
    char name[256];
    DF_TRY(conv(ld, &v->conv_in, "decoder.conv_in.conv", zc, rc[0], 3, 3));
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "decoder.mid_block.resnets.%d", i);
        DF_TRY(resnet(ld, &v->mid[i], name, rc[0], rc[0], zc));
    }
    int prev = rc[0];
    for (int i = 0; i < n; i++) {
        struct cv_level *lv = &v->up[i];
        lv->n_res = v->layers_per_block + 1;
        lv->res = calloc((size_t)lv->n_res, sizeof *lv->res);
        DF_FAIL_IF(!lv->res, ld->err, DF_E_NOMEM, "out of memory");
        for (int j = 0; j < lv->n_res; j++) {
            snprintf(name, sizeof name, "decoder.up_blocks.%d.resnets.%d", i, j);
            DF_TRY(resnet(ld, &lv->res[j], name, j == 0 ? prev : rc[i], rc[i], zc));
        }
        prev = rc[i];
        lv->has_up = i != n - 1;
        lv->compress_time = i < log_t;
        if (lv->has_up) {
            snprintf(name, sizeof name, "decoder.up_blocks.%d.upsamplers.0.conv", i);
            DF_TRY(conv(ld, &lv->up, name, rc[i], rc[i], 0, 3));
        }
    }
    DF_TRY(snorm(ld, &v->norm_out, "decoder.norm_out", rc[n - 1], zc));
    return conv(ld, &v->conv_out, "decoder.conv_out.conv", rc[n - 1], v->out_channels, 3, 3);
}

int cogvideox_vae_load(kern_backend_t be, const char *dir, struct cogvideox_vae **out,
                       struct df_err *err)
{
    *out = NULL;
    struct vcfg c;
    DF_TRY(load_cfg(dir, &c, err));
    struct cogvideox_vae *v = calloc(1, sizeof *v);
    DF_FAIL_IF(!v, err, DF_E_NOMEM, "out of memory for the VAE");
    v->be = be;
    v->is_cpu = strcmp(kern_backend_name(be), "cpu") == 0;
    v->info = c.info;
    memcpy(v->ch, c.ch, sizeof v->ch);
    v->layers_per_block = c.layers_per_block;
    v->groups = c.groups;
    v->out_channels = c.out_channels;
    v->eps = (float)c.eps;
    struct safetensors *st = NULL;
    int rc = safetensors_open_model(dir, "diffusion_pytorch_model", &st, err);
    struct loader ld = {.be = be, .st = st, .err = err};
    if (rc == 0)
        rc = load_weights(v, &ld);
    free(ld.buf);
    safetensors_close(st);
    if (rc < 0) {
        cogvideox_vae_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Free
 * ------------------------------------------------------------------------- */

static int add(struct cv_conv **out, int n, int cap, struct cv_conv *c)
{
    if (n < cap)
        out[n] = c;
    return n + 1;
}

static int snorm_convs(struct cv_snorm *s, struct cv_conv **out, int n, int cap)
{
    n = add(out, n, cap, &s->conv_y);
    return add(out, n, cap, &s->conv_b);
}

static int resnet_convs(struct cv_resnet *r, struct cv_conv **out, int n, int cap)
{
    n = snorm_convs(&r->norm1, out, n, cap);
    n = snorm_convs(&r->norm2, out, n, cap);
    n = add(out, n, cap, &r->conv1);
    n = add(out, n, cap, &r->conv2);
    return r->has_shortcut ? add(out, n, cap, &r->shortcut) : n;
}

int cvae_convs(struct cogvideox_vae *v, struct cv_conv **out, int cap)
{
    int n = add(out, 0, cap, &v->conv_in);
    for (int i = 0; i < 2; i++)
        n = resnet_convs(&v->mid[i], out, n, cap);
    for (int i = 0; i < v->info.levels; i++) {
        for (int j = 0; v->up[i].res && j < v->up[i].n_res; j++)
            n = resnet_convs(&v->up[i].res[j], out, n, cap);
        if (v->up[i].has_up)
            n = add(out, n, cap, &v->up[i].up);
    }
    n = snorm_convs(&v->norm_out, out, n, cap);
    return add(out, n, cap, &v->conv_out);
}

static void snorm_free(struct cv_snorm *s)
{
    free(s->gamma);
    free(s->beta);
}

void cogvideox_vae_free(struct cogvideox_vae *v)
{
    if (!v)
        return;
    struct cv_conv *convs[1024];
    int n = cvae_convs(v, convs, 1024);
    for (int i = 0; i < n && i < 1024; i++) {
        kern_weight_free(v->be, convs[i]->w);
        kern_release(v->be, convs[i]->b);
        kern_release(v->be, convs[i]->cache);
    }
    for (int i = 0; i < 2; i++)
        snorm_free(&v->mid[i].norm1), snorm_free(&v->mid[i].norm2);
    for (int i = 0; i < v->info.levels; i++) {
        for (int j = 0; v->up[i].res && j < v->up[i].n_res; j++)
            snorm_free(&v->up[i].res[j].norm1), snorm_free(&v->up[i].res[j].norm2);
        free(v->up[i].res);
    }
    snorm_free(&v->norm_out);
    kern_release(v->be, v->cols);
    free(v->host);
    free(v);
}

const struct cogvideox_vae_info *cogvideox_vae_get_info(const struct cogvideox_vae *v)
{
    return &v->info;
}
