/*
 * cogvideox_vae_decode.c -- the CogVideoX VAE decoder forward: frame chunks,
 * causal convolutions with caches, spatial norms, up-sampling, tiling.
 *
 * ref: diffusers/models/autoencoders/autoencoder_kl_cogvideox.py (0.42.1)
 *   CogVideoXCausalConv3d.forward (pad_mode "first": no cache -> the first
 *   frame repeated kt-1 times in front; the last kt-1 padded input frames
 *   become the cache), CogVideoXSpatialNorm3D.forward (zq nearest-resized to
 *   f, the first frame apart when f has an odd count > 1), ResnetBlock3D,
 *   Decoder3D.forward, AutoencoderKLCogVideoX._decode (chunks of
 *   num_latent_frames_batch_size = 2, the remainder in the first),
 *   tiled_decode / blend_v / blend_h; upsampling.py CogVideoXUpsample3D.
 *
 * Shapes: an activation is [t][h·w][c] in backend memory (channel last).
 * 1x1x1 convolutions commute with nearest resizing, so conv_y / conv_b run
 * at the latent's size and the spatial norm reads them through the index
 * map; a temporal duplication likewise comes after the up-sampler's 2D conv.
 */
#include "cogvideox_vae_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define COLS_BUDGET ((size_t)1 << 23) /* floats of im2col scratch per block of rows */

struct act {
    float *d;
    int t, h, w, c;
};

static size_t act_frame(const struct act *a)
{
    return (size_t)a->h * a->w * a->c;
}

static int act_new(struct cogvideox_vae *v, struct act *a, int t, int h, int w, int c,
                   struct df_err *err)
{
    *a = (struct act){.t = t, .h = h, .w = w, .c = c};
    a->d = kern_alloc(v->be, (size_t)t * h * w * c, err);
    return a->d ? 0 : (err && err->code ? err->code : DF_E_NOMEM);
}

static void act_free(struct cogvideox_vae *v, struct act *a)
{
    kern_release(v->be, a->d);
    a->d = NULL;
}

static int cols_reserve(struct cogvideox_vae *v, size_t n, struct df_err *err)
{
    if (n <= v->cols_cap)
        return 0;
    kern_release(v->be, v->cols);
    v->cols = kern_alloc(v->be, n, err);
    v->cols_cap = v->cols ? n : 0;
    return v->cols ? 0 : (err && err->code ? err->code : DF_E_NOMEM);
}

/* ---------------------------------------------------------------------------
 * Convolutions
 * ------------------------------------------------------------------------- */

/* One output frame from kt input frame pointers, in blocks of rows. */
static int conv_frame(struct cogvideox_vae *v, const struct cv_conv *c, const float *const *src,
                      int h, int w, float *dst, struct df_err *err)
{
    const int K = c->cin * c->kt * c->k * c->k;
    int rows = (int)(COLS_BUDGET / ((size_t)w * K));
    rows = rows < 1 ? 1 : rows > h ? h : rows;
    DF_TRY(cols_reserve(v, (size_t)rows * w * K, err));
    for (int y0 = 0; y0 < h; y0 += rows) {
        const int y1 = y0 + rows < h ? y0 + rows : h;
        DF_TRY(kern_im2col_causal(v->be, src, c->kt, h, w, c->cin, c->k, c->k, y0, y1, v->cols,
                                  err));
        DF_TRY(kern_linear(v->be, v->cols, c->w, c->b, dst + (size_t)y0 * w * c->cout,
                           (y1 - y0) * w, K, c->cout, err));
    }
    return 0;
}

/* Per-pixel (1x1x1) convolution over every frame. */
static int conv_pointwise(struct cogvideox_vae *v, const struct cv_conv *c, const struct act *in,
                          struct act *out, struct df_err *err)
{
    DF_TRY(act_new(v, out, in->t, in->h, in->w, c->cout, err));
    return kern_linear(v->be, in->d, c->w, c->b, out->d, in->t * in->h * in->w, c->cin, c->cout,
                       err);
}

/* CogVideoXCausalConv3d (kt frames, "first" padding) with its cache. */
static int conv_causal(struct cogvideox_vae *v, struct cv_conv *c, const struct act *in,
                       struct act *out, struct df_err *err)
{
    const int kt = c->kt, pad = kt - 1, t = in->t;
    const size_t fsz = (size_t)in->h * in->w * c->cin;
    DF_TRY(act_new(v, out, t, in->h, in->w, c->cout, err));
    const float *p[KERN_IM2COL_MAX_KT + 64];
    const float **P = p;
    const float **heap = NULL;
    if (t + pad > (int)(sizeof p / sizeof p[0])) {
        heap = malloc((size_t)(t + pad) * sizeof *heap);
        DF_FAIL_IF(!heap, err, DF_E_NOMEM, "out of memory");
        P = heap;
    }
    for (int i = 0; i < pad; i++)
        P[i] = c->cached ? c->cache + (size_t)i * fsz : in->d;
    for (int f = 0; f < t; f++)
        P[pad + f] = in->d + (size_t)f * fsz;
    int rc = 0;
    for (int f = 0; f < t && rc == 0; f++)
        rc = conv_frame(v, c, P + f, in->h, in->w, out->d + (size_t)f * out->h * out->w * c->cout,
                        err);
    if (rc == 0 && pad > 0) { /* the last pad frames of the padded input */
        if (c->cache_cap < pad * fsz) {
            kern_release(v->be, c->cache);
            c->cache = kern_alloc(v->be, pad * fsz, err);
            c->cache_cap = c->cache ? pad * fsz : 0;
            if (!c->cache)
                rc = err && err->code ? err->code : DF_E_NOMEM;
        }
        for (int i = 0; i < pad && rc == 0; i++)
            if (P[t + i] != c->cache + (size_t)i * fsz)
                rc = kern_copy(v->be, c->cache + (size_t)i * fsz, P[t + i], fsz, err);
        c->cached = rc == 0;
    }
    free(heap);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Spatial norm: GroupNorm(f) · conv_y(zq) + conv_b(zq)
 * ------------------------------------------------------------------------- */

/* torch nearest: src = min(floor(dst · in/out), in - 1), the scale in float. */
static int nearest(int dst, int in, int out)
{
    const float scale = (float)in / (float)out;
    const int s = (int)floorf((float)dst * scale);
    return s < in - 1 ? s : in - 1;
}

/* zq frame feeding f frame tf (diffusers: the first frame apart when f has
 * an odd count > 1). */
static int z_frame(int tf, int T, int tz)
{
    if (T > 1 && T % 2 == 1)
        return tf == 0 ? 0 : 1 + nearest(tf - 1, tz - 1, T - 1);
    return nearest(tf, tz, T);
}

/* The group norm and modulation on host arrays: x [T][HW][C] -> y. */
static void snorm_host(const struct cv_snorm *s, int groups, float eps, const float *x, float *y,
                       int T, int H, int W, const float *zy, const float *zb, int tz, int hz,
                       int wz)
{
    const int C = s->c, cg = C / groups;
    const size_t HW = (size_t)H * W;
    for (int g = 0; g < groups; g++) {
        double sum = 0, sq = 0;
        for (size_t r = 0; r < (size_t)T * HW; r++)
            for (int c = g * cg; c < (g + 1) * cg; c++) {
                const double e = x[r * C + c];
                sum += e, sq += e * e;
            }
        const double n = (double)T * HW * cg, mean = sum / n;
        double var = sq / n - mean * mean;
        var = var > 0 ? var : 0;
        const float rstd = (float)(1.0 / sqrt(var + eps)), fm = (float)mean;
        for (int t = 0; t < T; t++) {
            const int st = z_frame(t, T, tz);
            for (int yy = 0; yy < H; yy++) {
                const int sy = nearest(yy, hz, H);
                for (int xx = 0; xx < W; xx++) {
                    const size_t r = ((size_t)t * H + yy) * W + xx;
                    const size_t zr = ((size_t)st * hz + sy) * wz + nearest(xx, wz, W);
                    for (int c = g * cg; c < (g + 1) * cg; c++) {
                        const float nx = (x[r * C + c] - fm) * rstd * s->gamma[c] + s->beta[c];
                        y[r * C + c] = nx * zy[zr * C + c] + zb[zr * C + c];
                    }
                }
            }
        }
    }
}

static int spatial_norm(struct cogvideox_vae *v, struct cv_snorm *s, const struct act *f,
                        const struct act *z, struct act *out, struct df_err *err)
{
    struct act zy = {0}, zb = {0};
    int rc = conv_pointwise(v, &s->conv_y, z, &zy, err);
    if (rc == 0)
        rc = conv_pointwise(v, &s->conv_b, z, &zb, err);
    if (rc == 0)
        rc = act_new(v, out, f->t, f->h, f->w, f->c, err);
    const size_t nf = (size_t)f->t * act_frame(f), nz = (size_t)zy.t * act_frame(&zy);
    if (rc == 0 && v->is_cpu) {
        snorm_host(s, v->groups, v->eps, f->d, out->d, f->t, f->h, f->w, zy.d, zb.d, z->t, z->h,
                   z->w);
    } else if (rc == 0) { /* stage through host memory */
        if (v->host_cap < 2 * nf + 2 * nz) {
            free(v->host);
            v->host = malloc((2 * nf + 2 * nz) * sizeof(float));
            v->host_cap = v->host ? 2 * nf + 2 * nz : 0;
        }
        float *hx = v->host, *hy = hx + nf, *hzy = hy + nf, *hzb = hzy + nz;
        if (!v->host)
            rc = df_err_set(err, DF_E_NOMEM, "out of memory for the group norm");
        if (rc == 0)
            rc = kern_download(v->be, hx, f->d, nf, err);
        if (rc == 0)
            rc = kern_download(v->be, hzy, zy.d, nz, err);
        if (rc == 0)
            rc = kern_download(v->be, hzb, zb.d, nz, err);
        if (rc == 0) {
            snorm_host(s, v->groups, v->eps, hx, hy, f->t, f->h, f->w, hzy, hzb, z->t, z->h, z->w);
            rc = kern_upload(v->be, out->d, hy, nf, err);
        }
    }
    act_free(v, &zy);
    act_free(v, &zb);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Blocks
 * ------------------------------------------------------------------------- */

/* CogVideoXResnetBlock3D: x -> out (x is left as it was). */
static int resnet(struct cogvideox_vae *v, struct cv_resnet *r, const struct act *x,
                  const struct act *z, struct act *out, struct df_err *err)
{
    struct act a = {0}, b = {0}, sc = {0};
    int rc = spatial_norm(v, &r->norm1, x, z, &a, err);
    if (rc == 0)
        rc = kern_silu(v->be, a.d, a.d, (size_t)a.t * act_frame(&a), err);
    if (rc == 0)
        rc = conv_causal(v, &r->conv1, &a, &b, err);
    act_free(v, &a);
    if (rc == 0)
        rc = spatial_norm(v, &r->norm2, &b, z, &a, err);
    act_free(v, &b);
    if (rc == 0)
        rc = kern_silu(v->be, a.d, a.d, (size_t)a.t * act_frame(&a), err);
    if (rc == 0)
        rc = conv_causal(v, &r->conv2, &a, out, err);
    act_free(v, &a);
    if (rc == 0 && r->has_shortcut)
        rc = conv_pointwise(v, &r->shortcut, x, &sc, err);
    if (rc == 0)
        rc = kern_add(v->be, out->d, r->has_shortcut ? sc.d : x->d,
                      (size_t)out->t * act_frame(out), err);
    act_free(v, &sc);
    return rc;
}

/* CogVideoXUpsample3D: nearest 2x in space (and in time when compressing:
 * the first of an odd count > 1 kept single), then a 3x3 Conv2d per frame
 * -- computed once per distinct frame and duplicated after. */
static int upsample(struct cogvideox_vae *v, struct cv_level *lv, const struct act *x,
                    struct act *out, struct df_err *err)
{
    struct act s = {0}, c = {0};
    int rc = act_new(v, &s, x->t, 2 * x->h, 2 * x->w, x->c, err);
    if (rc == 0)
        rc = kern_upsample2x(v->be, x->d, s.d, x->t, x->h, x->w, x->c, err);
    if (rc == 0)
        rc = act_new(v, &c, x->t, s.h, s.w, lv->up.cout, err);
    for (int f = 0; f < x->t && rc == 0; f++) {
        const float *src = s.d + (size_t)f * act_frame(&s);
        rc = conv_frame(v, &lv->up, &src, s.h, s.w, c.d + (size_t)f * act_frame(&c), err);
    }
    act_free(v, &s);
    const int T = x->t, dup = lv->compress_time && T > 1;
    const int first_single = dup && T % 2 == 1;
    const int Tout = dup ? 2 * T - first_single : T;
    if (rc == 0)
        rc = act_new(v, out, Tout, c.h, c.w, c.c, err);
    for (int o = 0; o < Tout && rc == 0; o++) {
        const int src = !dup ? o : first_single ? (o == 0 ? 0 : 1 + (o - 1) / 2) : o / 2;
        rc = kern_copy(v->be, out->d + (size_t)o * act_frame(out), c.d + (size_t)src * act_frame(&c),
                       act_frame(out), err);
    }
    act_free(v, &c);
    return rc;
}

/* CogVideoXDecoder3D.forward on one chunk z [tz][hz·wz][C] -> out [T][H·W][3]. */
static int decoder_chunk(struct cogvideox_vae *v, const struct act *z, struct act *out,
                         struct df_err *err)
{
    struct act x = {0}, y = {0};
    int rc = conv_causal(v, &v->conv_in, z, &x, err);
    for (int i = 0; i < 2 && rc == 0; i++) {
        rc = resnet(v, &v->mid[i], &x, z, &y, err);
        act_free(v, &x);
        x = y, y = (struct act){0};
    }
    for (int l = 0; l < v->info.levels && rc == 0; l++) {
        struct cv_level *lv = &v->up[l];
        for (int j = 0; j < lv->n_res && rc == 0; j++) {
            rc = resnet(v, &lv->res[j], &x, z, &y, err);
            act_free(v, &x);
            x = y, y = (struct act){0};
        }
        if (rc == 0 && lv->has_up) {
            rc = upsample(v, lv, &x, &y, err);
            act_free(v, &x);
            x = y, y = (struct act){0};
        }
    }
    if (rc == 0)
        rc = spatial_norm(v, &v->norm_out, &x, z, &y, err);
    act_free(v, &x);
    if (rc == 0)
        rc = kern_silu(v->be, y.d, y.d, (size_t)y.t * act_frame(&y), err);
    if (rc == 0)
        rc = conv_causal(v, &v->conv_out, &y, out, err);
    act_free(v, &y);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Chunks, tiles
 * ------------------------------------------------------------------------- */

/* Output frames of a chunk of tz latent frames. */
static int chunk_frames(const struct cogvideox_vae *v, int tz)
{
    int t = tz;
    for (int l = 0; l < v->info.levels; l++)
        if (v->up[l].has_up && v->up[l].compress_time && t > 1)
            t = 2 * t - (t % 2);
    return t;
}

/* _decode's chunk i of F frames: [start, end). */
static void chunk_range(int F, int i, int *start, int *end)
{
    const int rem = F % 2;
    *start = 2 * i + (i == 0 ? 0 : rem);
    *end = 2 * (i + 1) + rem;
    if (*end > F)
        *end = F;
}

static int n_chunks(int F)
{
    return F / 2 > 1 ? F / 2 : 1;
}

void cogvideox_vae_output_size(const struct cogvideox_vae *v, int F, int h, int w, int *frames,
                               int *height, int *width)
{
    int t = 0;
    for (int i = 0; i < n_chunks(F); i++) {
        int s, e;
        chunk_range(F, i, &s, &e);
        t += chunk_frames(v, e - s);
    }
    *frames = t;
    *height = h * v->info.stride_s;
    *width = w * v->info.stride_s;
}

static void reset_caches(struct cogvideox_vae *v)
{
    struct cv_conv *convs[1024];
    const int n = cvae_convs(v, convs, 1024);
    for (int i = 0; i < n && i < 1024; i++)
        convs[i]->cached = 0;
}

/* Decode the window [y0, y0 + hh) x [x0, x0 + ww) of the latents host
 * [F, C, h, w] through every chunk into out host [3][T][HH][WW] (HH, WW the
 * window's output size). */
static int decode_window(struct cogvideox_vae *v, const float *lat, int F, int h, int w, int y0,
                         int hh, int x0, int ww, float *out, struct df_err *err)
{
    const int C = v->info.latent_channels, s = v->info.stride_s;
    const float inv = (float)(1.0 / v->info.scaling_factor);
    int T, HH = hh * s, WW = ww * s;
    cogvideox_vae_output_size(v, F, hh, ww, &T, &HH, &WW);
    float *hz = malloc((size_t)3 * hh * ww * C * sizeof *hz), *hf = NULL;
    DF_FAIL_IF(!hz, err, DF_E_NOMEM, "out of memory");
    reset_caches(v);
    int rc = 0, t_out = 0;
    for (int i = 0; i < n_chunks(F) && rc == 0; i++) {
        int a, b;
        chunk_range(F, i, &a, &b);
        struct act z = {0}, o = {0};
        for (int f = a; f < b; f++) /* [C, h, w] window -> [h·w][C], times 1/scaling_factor */
            for (int yy = 0; yy < hh; yy++)
                for (int xx = 0; xx < ww; xx++)
                    for (int c = 0; c < C; c++)
                        hz[(((size_t)(f - a) * hh + yy) * ww + xx) * C + c] =
                            lat[(((size_t)f * C + c) * h + y0 + yy) * w + x0 + xx] * inv;
        rc = act_new(v, &z, b - a, hh, ww, C, err);
        if (rc == 0)
            rc = kern_upload(v->be, z.d, hz, (size_t)(b - a) * hh * ww * C, err);
        if (rc == 0)
            rc = decoder_chunk(v, &z, &o, err);
        const size_t n = rc == 0 ? (size_t)o.t * act_frame(&o) : 0;
        if (rc == 0 && !(hf = realloc(hf, n * sizeof *hf)))
            rc = df_err_set(err, DF_E_NOMEM, "out of memory");
        if (rc == 0)
            rc = kern_download(v->be, hf, o.d, n, err);
        for (int t = 0; rc == 0 && t < o.t; t++) /* [HW][3] -> [3][T][HW] */
            for (size_t p = 0; p < (size_t)HH * WW; p++)
                for (int c = 0; c < 3; c++)
                    out[((size_t)c * T + t_out + t) * HH * WW + p] = hf[((size_t)t * HH * WW + p) * 3 + c];
        t_out += rc == 0 ? o.t : 0;
        act_free(v, &z);
        act_free(v, &o);
    }
    free(hz);
    free(hf);
    return rc;
}

struct tiling {
    int tlh, tlw;           /* latent tile size */
    int ovh, ovw;           /* latent step between tiles */
    int blend_h, blend_w;   /* blend extents (pixels) */
    int limit_h, limit_w;   /* kept rows / columns of a tile */
};

static void tiling_of(const struct cogvideox_vae *v, struct tiling *t)
{
    const int tsh = v->info.sample_height / 2, tsw = v->info.sample_width / 2;
    t->tlh = (int)(tsh / (double)v->info.stride_s);
    t->tlw = (int)(tsw / (double)v->info.stride_s);
    t->ovh = (int)(t->tlh * (1.0 - 1.0 / 6.0));
    t->ovw = (int)(t->tlw * (1.0 - 1.0 / 5.0));
    t->blend_h = (int)(tsh * (1.0 / 6.0));
    t->blend_w = (int)(tsw * (1.0 / 5.0));
    t->limit_h = tsh - t->blend_h;
    t->limit_w = tsw - t->blend_w;
}

/* blend_v / blend_h of diffusers, in place on b ([3·T][bh][bw] planes). */
static void blend(const float *a, int ah, int aw, float *b, int bh, int bw, int planes,
                  int extent, int vertical)
{
    const int lim = vertical ? (ah < bh ? ah : bh) : (aw < bw ? aw : bw);
    extent = extent < lim ? extent : lim;
    for (int k = 0; k < extent; k++) {
        const float wa = (float)(1.0 - (double)k / extent), wb = (float)((double)k / extent);
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < (vertical ? bw : bh); i++) {
                float *pb = vertical ? &b[((size_t)p * bh + k) * bw + i] : &b[((size_t)p * bh + i) * bw + k];
                const float pa = vertical ? a[((size_t)p * ah + ah - extent + k) * aw + i]
                                          : a[((size_t)p * ah + i) * aw + aw - extent + k];
                *pb = pa * wa + *pb * wb;
            }
    }
}

/* Latent origin and size of tile (i, j). */
static void tile_box(const struct tiling *tl, int h, int w, int i, int j, int *y0, int *hh,
                     int *x0, int *ww)
{
    *y0 = i * tl->ovh, *x0 = j * tl->ovw;
    *hh = h - *y0 < tl->tlh ? h - *y0 : tl->tlh;
    *ww = w - *x0 < tl->tlw ? w - *x0 : tl->tlw;
}

/* The tile grid of an h x w latent, or 0 when diffusers' tiles would not
 * cover the frame exactly (or the latent fits one tile). */
static int tile_grid(const struct cogvideox_vae *v, int h, int w, struct tiling *tl, int *nr,
                     int *nc)
{
    tiling_of(v, tl);
    if (tl->ovh < 1 || tl->ovw < 1 || (w <= tl->tlw && h <= tl->tlh))
        return 0;
    const int s = v->info.stride_s;
    *nr = (h + tl->ovh - 1) / tl->ovh, *nc = (w + tl->ovw - 1) / tl->ovw;
    int sum_h = 0, sum_w = 0, y0, x0, hh, ww;
    for (int i = 0; i < *nr; i++) {
        tile_box(tl, h, w, i, 0, &y0, &hh, &x0, &ww);
        sum_h += hh * s < tl->limit_h ? hh * s : tl->limit_h;
    }
    for (int j = 0; j < *nc; j++) {
        tile_box(tl, h, w, 0, j, &y0, &hh, &x0, &ww);
        sum_w += ww * s < tl->limit_w ? ww * s : tl->limit_w;
    }
    return sum_h == h * s && sum_w == w * s;
}

int cogvideox_vae_tiles(const struct cogvideox_vae *v, int h, int w)
{
    struct tiling tl;
    int nr, nc;
    return tile_grid(v, h, w, &tl, &nr, &nc) ? nr * nc : 0;
}

/* Blend (in place, tile order) and crop the decoded tiles into video. */
static void assemble(const struct tiling *tl, int s, int h, int w, int nr, int nc, int T,
                     const size_t *off, float *all, float *video)
{
    const int H = h * s, W = w * s;
    int y0, x0, hh, ww;
    for (int i = 0, oy = 0; i < nr; i++) {
        int kept_h = 0;
        for (int j = 0, ox = 0; j < nc; j++) {
            tile_box(tl, h, w, i, j, &y0, &hh, &x0, &ww);
            const int bh = hh * s, bw = ww * s;
            float *b = all + off[i * nc + j];
            if (i > 0) {
                tile_box(tl, h, w, i - 1, j, &y0, &hh, &x0, &ww);
                const float *a = all + off[(i - 1) * nc + j];
                blend(a, hh * s, bw, b, bh, bw, 3 * T, tl->blend_h, 1);
            }
            if (j > 0) {
                tile_box(tl, h, w, i, j - 1, &y0, &hh, &x0, &ww);
                const float *a = all + off[i * nc + j - 1];
                blend(a, bh, ww * s, b, bh, bw, 3 * T, tl->blend_w, 0);
            }
            const int kh = bh < tl->limit_h ? bh : tl->limit_h, kw = bw < tl->limit_w ? bw : tl->limit_w;
            for (int p = 0; p < 3 * T; p++)
                for (int yy = 0; yy < kh; yy++)
                    memcpy(video + ((size_t)p * H + oy + yy) * W + ox, b + ((size_t)p * bh + yy) * bw,
                           (size_t)kw * sizeof(float));
            ox += kw;
            kept_h = kh;
        }
        oy += kept_h;
    }
}

/* tiled_decode: tile k is decoded by rank k % P into its slot of one buffer
 * of every tile (zeros elsewhere), a sum over the ranks gives every tile to
 * every rank, and rank 0 blends.  One rank is P = 1. */
static int decode_tiled(struct cogvideox_vae *v, comm_t comm, const float *lat, int F, int h,
                        int w, float *video, struct df_err *err)
{
    struct tiling tl;
    int nr, nc;
    DF_FAIL_IF(!tile_grid(v, h, w, &tl, &nr, &nc), err, DF_E_INVAL,
               "tiling: diffusers' tiles of %dx%d latents do not make a %dx%d frame; decode "
               "untiled",
               tl.tlh, tl.tlw, h * v->info.stride_s, w * v->info.stride_s);
    const int s = v->info.stride_s, P = comm ? comm_size(comm) : 1, me = comm ? comm_rank(comm) : 0;
    int T, H, W, y0, x0, hh, ww;
    cogvideox_vae_output_size(v, F, h, w, &T, &H, &W);
    size_t *off = calloc((size_t)nr * nc + 1, sizeof *off);
    DF_FAIL_IF(!off, err, DF_E_NOMEM, "out of memory");
    for (int k = 0; k < nr * nc; k++) {
        tile_box(&tl, h, w, k / nc, k % nc, &y0, &hh, &x0, &ww);
        off[k + 1] = off[k] + (size_t)3 * T * hh * s * ww * s;
    }
    const size_t total = off[nr * nc];
    float *all = calloc(total ? total : 1, sizeof *all);
    int rc = all ? 0 : df_err_set(err, DF_E_NOMEM, "out of memory for %zu tile floats", total);
    for (int k = me; k < nr * nc && rc == 0; k += P) {
        tile_box(&tl, h, w, k / nc, k % nc, &y0, &hh, &x0, &ww);
        rc = decode_window(v, lat, F, h, w, y0, hh, x0, ww, all + off[k], err);
    }
    if (P > 1) { /* every rank enters the sum, failed or not, so none waits forever */
        struct df_err cerr = {0};
        float failed = rc < 0, any = 0;
        int crc = comm_allreduce(comm, &failed, &any, 1, COMM_OP_MAX, &cerr);
        if (crc == 0 && any == 0)
            crc = comm_allreduce(comm, all, all, total, COMM_OP_SUM, &cerr);
        if (rc == 0 && crc < 0)
            rc = df_err_set(err, crc, "%s", cerr.msg);
        else if (rc == 0 && any > 0)
            rc = df_err_set(err, DF_E_COMM, "another rank failed its VAE tiles");
    }
    if (rc == 0 && me == 0)
        assemble(&tl, s, h, w, nr, nc, T, off, all, video);
    free(all);
    free(off);
    return rc;
}

int cogvideox_vae_decode_ranks(struct cogvideox_vae *v, comm_t comm, const float *latents, int F,
                               int h, int w, float *video, struct df_err *err)
{
    DF_FAIL_IF(F < 1 || h < 1 || w < 1 || F > 1 << 12 || h > 1 << 12 || w > 1 << 12, err,
               DF_E_INVAL, "VAE decode of %dx%dx%d latents", F, h, w);
    if (cogvideox_vae_tiles(v, h, w) > 0)
        return decode_tiled(v, comm, latents, F, h, w, video, err);
    if (comm && comm_rank(comm) != 0)
        return 0;
    return decode_window(v, latents, F, h, w, 0, h, 0, w, video, err);
}

int cogvideox_vae_decode(struct cogvideox_vae *v, const float *latents, int F, int h, int w,
                         int tiled, float *video, struct df_err *err)
{
    DF_FAIL_IF(F < 1 || h < 1 || w < 1 || F > 1 << 12 || h > 1 << 12 || w > 1 << 12, err,
               DF_E_INVAL, "VAE decode of %dx%dx%d latents", F, h, w);
    struct tiling tl;
    tiling_of(v, &tl);
    if (tiled && (w > tl.tlw || h > tl.tlh))
        return decode_tiled(v, NULL, latents, F, h, w, video, err);
    return decode_window(v, latents, F, h, w, 0, h, 0, w, video, err);
}
