/*
 * vae_decode.c -- the Wan2.1 VAE decoder forward, one latent frame at a time.
 *
 * ref: diffusers AutoencoderKLWan._decode / WanDecoder3d.forward.  diffusers
 * decodes chunk by chunk with a per-conv "feature cache" of the last two
 * input frames; each causal conv here keeps the same cache (struct vae_conv),
 * which makes the chunked decode equal to a whole-clip causal decode while
 * holding only one chunk of activations.  A chunk is one latent frame, which
 * becomes 1 output frame for the first latent frame and stride_t after it
 * (each 3D up-sampler's time conv skips the very first frame, diffusers' "Rep").
 *
 * Activations are `struct act`: channel-last frames [frames][h·w][c] in
 * backend buffers, each op returning a new one that the caller frees.  Every
 * step is a kern_* op (im2col, linear, norms, attention, up-sampling, strided
 * copies), so the decoder runs on any backend; only the latent going in and
 * the RGB frames coming out cross to the host.
 */
#include "vae_int.h"

#include <math.h>
#include <stdlib.h>

/* im2col scratch cap: convs over large frames run in bands of pixel rows. */
#define VAE_COLS_CAP_FLOATS ((size_t)16 << 20)
/* F.normalize's eps is 1e-12 on the norm; as a mean-square eps this keeps
 * all-zero pixels at zero instead of NaN and changes nothing else. */
#define VAE_RMS_EPS 1e-24f

struct act {
    float *d;   /* [frames][h*w][c], a backend buffer */
    size_t cap; /* floats in d (it may come bigger from the pool) */
    int frames, h, w, c;
};

static size_t act_frame(const struct act *a)
{
    return (size_t)a->h * a->w * a->c;
}

/* Activations come from a small pool of released buffers when one fits
 * (at most twice the size asked), else from kern_alloc: every chunk asks for
 * the same sizes again, and on "cuda" an allocation and a release each cost
 * a device synchronization. */
static int act_new(struct vae *v, struct act *a, int frames, int h, int w, int c,
                   struct df_err *err)
{
    const size_t n = (size_t)frames * h * w * c;
    a->frames = frames, a->h = h, a->w = w, a->c = c;
    int best = -1;
    for (int i = 0; i < v->n_pool; i++)
        if (v->pool[i].cap >= n && v->pool[i].cap <= 2 * n &&
            (best < 0 || v->pool[i].cap < v->pool[best].cap))
            best = i;
    if (best >= 0) {
        a->d = v->pool[best].d;
        a->cap = v->pool[best].cap;
        v->pool[best] = v->pool[--v->n_pool];
        return 0;
    }
    a->d = kern_alloc(v->be, n, err);
    a->cap = n;
    if (!a->d) {
        df_err_prefix(err, "VAE decode: a %dx%dx%dx%d activation", frames, h, w, c);
        return DF_E_NOMEM;
    }
    return 0;
}

static void act_free(struct vae *v, struct act *a)
{
    if (a->d && v->n_pool < VAE_POOL_CAP)
        v->pool[v->n_pool++] = (struct vae_buf){a->d, a->cap};
    else
        kern_release(v->be, a->d);
    a->d = NULL;
}

/* Scratch backend buffer of at least n floats (contents not kept). */
static int grow(struct vae *v, float **buf, size_t *cap, size_t n, struct df_err *err)
{
    if (n <= *cap)
        return 0;
    kern_release(v->be, *buf);
    *cap = 0;
    *buf = kern_alloc(v->be, n, err);
    if (!*buf) {
        df_err_prefix(err, "VAE decode: scratch");
        return DF_E_NOMEM;
    }
    *cap = n;
    return 0;
}

/* Remember the last kt-1 frames of (cache ++ input) for the next chunk. */
static int conv_update_cache(struct vae *v, struct vae_conv *c, const struct act *in,
                             struct df_err *err)
{
    int keep = c->kt - 1;
    size_t fsz = (size_t)in->h * in->w * c->cin;
    if (!c->cache || c->cache_hw != in->h * in->w) {
        kern_release(v->be, c->cache);
        c->cache = kern_alloc(v->be, (size_t)keep * fsz, err);
        if (!c->cache) {
            df_err_prefix(err, "VAE decode: a conv cache");
            return DF_E_NOMEM;
        }
        c->cache_hw = in->h * in->w;
        c->n_cached = 0;
    }
    for (int f = 0; f < in->frames; f++) {
        if (c->n_cached == keep) /* drop the oldest, one frame at a time (no overlap) */
            for (int k = 0; k + 1 < keep; k++)
                DF_TRY(kern_copy(v->be, c->cache + (size_t)k * fsz,
                                 c->cache + (size_t)(k + 1) * fsz, fsz, err));
        else
            c->n_cached++;
        DF_TRY(kern_copy(v->be, c->cache + (size_t)(c->n_cached - 1) * fsz, in->d + (size_t)f * fsz,
                         fsz, err));
    }
    return 0;
}

/* Causal conv over a chunk: output frame f sees (zero pad ++ cache ++ in)
 * frames f .. f+kt-1; spatial zero padding kh/2, kw/2. */
static int conv_forward(struct vae *v, struct vae_conv *c, const struct act *in, struct act *out,
                        struct df_err *err)
{
    DF_TRY(act_new(v, out, in->frames, in->h, in->w, c->cout, err));
    const int hw = in->h * in->w;
    const int K = c->cin * c->kt * c->kh * c->kw;
    int rc = 0;
    if (K == c->cin) { /* 1x1x1: a per-pixel linear over all frames at once */
        rc =
            kern_linear(v->be, in->d, c->w, c->bias, out->d, in->frames * hw, c->cin, c->cout, err);
        goto done;
    }
    const int pad = c->kt - 1;
    const int have = c->kt > 1 && c->cache_hw == hw ? c->n_cached : 0;
    const size_t fsz = act_frame(in);
    int band = (int)(VAE_COLS_CAP_FLOATS / ((size_t)in->w * K));
    if (band < 1)
        band = 1;
    if (band > in->h)
        band = in->h;
    if ((rc = grow(v, &v->cols, &v->cols_cap, (size_t)band * in->w * K, err)) < 0)
        goto done;
    for (int f = 0; f < in->frames; f++) {
        const float *src[8] = {0};
        for (int dt = 0; dt < c->kt; dt++) {
            int seq = f + dt - (pad - have); /* index into cache ++ in; < 0 is zero pad */
            if (seq < 0)
                src[dt] = NULL;
            else if (seq < have)
                src[dt] = c->cache + (size_t)seq * fsz;
            else
                src[dt] = in->d + (size_t)(seq - have) * fsz;
        }
        for (int y0 = 0; y0 < in->h; y0 += band) {
            int y1 = y0 + band < in->h ? y0 + band : in->h;
            if ((rc = kern_im2col_causal(v->be, src, c->kt, in->h, in->w, c->cin, c->kh, c->kw, y0,
                                         y1, v->cols, err)) < 0)
                goto done;
            float *dst = out->d + (size_t)f * hw * c->cout + (size_t)y0 * in->w * c->cout;
            if ((rc = kern_linear(v->be, v->cols, c->w, c->bias, dst, (y1 - y0) * in->w, K, c->cout,
                                  err)) < 0)
                goto done;
        }
    }
    if (c->kt > 1)
        rc = conv_update_cache(v, c, in, err);
done:
    if (rc < 0)
        act_free(v, out);
    return rc;
}

/* y = silu?(rms(x)·gamma), per pixel over channels (WanRMS_norm + activation). */
static int rms_act(struct vae *v, const struct vae_rms *r, const struct act *in, int silu,
                   struct act *out, struct df_err *err)
{
    DF_TRY(act_new(v, out, in->frames, in->h, in->w, in->c, err));
    int rows = in->frames * in->h * in->w;
    int rc = kern_rmsnorm(v->be, in->d, out->d, rows, in->c, VAE_RMS_EPS, r->gamma, err);
    if (rc == 0 && silu)
        rc = kern_silu(v->be, out->d, out->d, (size_t)rows * in->c, err);
    if (rc < 0)
        act_free(v, out);
    return rc;
}

/* WanResidualBlock: shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))). */
static int resblock(struct vae *v, struct vae_resblock *b, struct act *x, struct df_err *err)
{
    struct act h = {0}, t = {0}, u = {0};
    int rc;
    if ((rc = rms_act(v, &b->norm1, x, 1, &t, err)) < 0 ||
        (rc = conv_forward(v, &b->conv1, &t, &u, err)) < 0)
        goto done;
    act_free(v, &t);
    if ((rc = rms_act(v, &b->norm2, &u, 1, &t, err)) < 0)
        goto done;
    act_free(v, &u);
    if ((rc = conv_forward(v, &b->conv2, &t, &u, err)) < 0)
        goto done;
    if (b->has_shortcut) {
        if ((rc = conv_forward(v, &b->shortcut, x, &h, err)) < 0)
            goto done;
        rc = kern_add(v->be, u.d, h.d, (size_t)u.frames * act_frame(&u), err);
    } else {
        rc = kern_add(v->be, u.d, x->d, (size_t)u.frames * act_frame(&u), err);
    }
    if (rc == 0) {
        act_free(v, x);
        *x = u;
        u.d = NULL;
    }
done:
    act_free(v, &h);
    act_free(v, &t);
    act_free(v, &u);
    return rc;
}

/* WanAttentionBlock: single-head self-attention over the pixels of each frame. */
static int attn_block(struct vae *v, struct vae_attn *a, struct act *x, struct df_err *err)
{
    const int C = a->dim, hw = x->h * x->w;
    struct act n = {0};
    DF_TRY(rms_act(v, &a->norm, x, 0, &n, err));
    int rc = grow(v, &v->attn_tmp, &v->attn_cap, (size_t)hw * C * 6, err);
    float *qkv = v->attn_tmp;            /* [hw, 3C] */
    float *q = qkv + (size_t)hw * 3 * C; /* [hw, C] each: q, k, v */
    float *k = q + (size_t)hw * C, *vv = k + (size_t)hw * C;
    for (int f = 0; rc == 0 && f < x->frames; f++) {
        const float *xf = n.d + (size_t)f * hw * C;
        float *yf = x->d + (size_t)f * hw * C;
        if ((rc = kern_linear(v->be, xf, a->qkv, a->qkv_bias, qkv, hw, C, 3 * C, err)) < 0)
            break;
        if ((rc = kern_copy_2d(v->be, q, C, qkv, 3 * (size_t)C, hw, C, err)) < 0 ||
            (rc = kern_copy_2d(v->be, k, C, qkv + C, 3 * (size_t)C, hw, C, err)) < 0 ||
            (rc = kern_copy_2d(v->be, vv, C, qkv + 2 * C, 3 * (size_t)C, hw, C, err)) < 0)
            break;
        /* o reuses the qkv scratch, which is no longer needed */
        if ((rc = kern_attention(v->be, q, k, vv, qkv, NULL, hw, hw, 1, C, hw,
                                 1.0f / sqrtf((float)C), err)) < 0)
            break;
        /* proj output into q's slot, then the residual add into x */
        if ((rc = kern_linear(v->be, qkv, a->proj, a->proj_bias, q, hw, C, C, err)) < 0)
            break;
        rc = kern_add(v->be, yf, q, (size_t)hw * C, err);
    }
    act_free(v, &n);
    return rc;
}

/* Nearest 2x spatial up-sampling of every frame. */
static int upsample2x(struct vae *v, const struct act *in, struct act *out, struct df_err *err)
{
    DF_TRY(act_new(v, out, in->frames, in->h * 2, in->w * 2, in->c, err));
    int rc = kern_upsample2x(v->be, in->d, out->d, in->frames, in->h, in->w, in->c, err);
    if (rc < 0)
        act_free(v, out);
    return rc;
}

/* WanResample (upsample2d / upsample3d). */
static int upsampler(struct vae *v, struct vae_upblock *u, struct act *x, struct df_err *err)
{
    struct act t = {0}, s = {0};
    int rc = 0;
    if (u->mode == VAE_UP_3D) {
        if (!u->time_started) {
            u->time_started = 1; /* the first frame passes without a time conv */
        } else {
            if ((rc = conv_forward(v, &u->time_conv, x, &t, err)) < 0)
                return rc;
            /* channels [0,C) become frame 2i, [C,2C) frame 2i+1 */
            const int C = x->c, hw = x->h * x->w;
            if ((rc = act_new(v, &s, x->frames * 2, x->h, x->w, C, err)) < 0)
                goto done;
            for (int f = 0; rc == 0 && f < x->frames; f++)
                for (int half = 0; rc == 0 && half < 2; half++)
                    rc = kern_copy_2d(v->be, s.d + (size_t)(2 * f + half) * hw * C, C,
                                      t.d + (size_t)f * hw * 2 * C + half * C, 2 * (size_t)C, hw, C,
                                      err);
            if (rc < 0)
                goto done;
            act_free(v, &t);
            act_free(v, x);
            *x = s;
            s.d = NULL;
        }
    }
    if ((rc = upsample2x(v, x, &t, err)) < 0 ||
        (rc = conv_forward(v, &u->resample, &t, &s, err)) < 0)
        goto done;
    act_free(v, x);
    *x = s;
    s.d = NULL;
done:
    act_free(v, &t);
    act_free(v, &s);
    return rc;
}

/* Download each frame, [h·w][3] -> planar [3][h·w], clamped to [-1, 1]
 * unless the caller blends raw frames first (tiled decode). */
static int emit_frames(struct vae *v, const struct act *x, int first_index, int clamp,
                       vae_frame_fn on_frame, void *user, struct df_err *err)
{
    const int hw = x->h * x->w;
    float *rgb = malloc((size_t)6 * hw * sizeof(float));
    if (!rgb)
        return df_err_set(err, DF_E_NOMEM, "VAE decode: out of memory for a frame");
    float *px = rgb + (size_t)3 * hw;
    int rc = 0;
    for (int f = 0; rc == 0 && f < x->frames; f++) {
        if ((rc = kern_download(v->be, px, x->d + (size_t)f * hw * 3, (size_t)hw * 3, err)) < 0)
            break;
        for (int p = 0; p < hw; p++)
            for (int c = 0; c < 3; c++) {
                float val = px[(size_t)p * 3 + c];
                if (clamp)
                    val = val < -1.0f ? -1.0f : val > 1.0f ? 1.0f : val;
                rgb[(size_t)c * hw + p] = val;
            }
        rc = on_frame(user, first_index + f, rgb, x->h, x->w, err);
    }
    free(rgb);
    return rc;
}

static void reset_caches(struct vae *v)
{
    struct vae_conv *convs[] = {&v->conv_in, &v->conv_out};
    for (size_t i = 0; i < 2; i++)
        convs[i]->n_cached = 0;
    for (int r = 0; r < 2; r++)
        v->mid_res[r].conv1.n_cached = v->mid_res[r].conv2.n_cached = 0;
    for (int i = 0; i < v->info.n_stages; i++) {
        struct vae_upblock *u = &v->up[i];
        for (int j = 0; j < u->n_res; j++)
            u->res[j].conv1.n_cached = u->res[j].conv2.n_cached = 0;
        u->time_conv.n_cached = 0;
        u->time_started = 0;
    }
}

/* One latent frame through post_quant_conv and the decoder. */
static int decode_chunk(struct vae *v, struct act *x, struct df_err *err)
{
    struct act t = {0};
    DF_TRY(conv_forward(v, &v->post_quant, x, &t, err));
    act_free(v, x);
    *x = t;
    DF_TRY(conv_forward(v, &v->conv_in, x, &t, err));
    act_free(v, x);
    *x = t;
    DF_TRY(resblock(v, &v->mid_res[0], x, err));
    DF_TRY(attn_block(v, &v->mid_attn, x, err));
    DF_TRY(resblock(v, &v->mid_res[1], x, err));
    for (int i = 0; i < v->info.n_stages; i++) {
        struct vae_upblock *u = &v->up[i];
        for (int j = 0; j < u->n_res; j++)
            DF_TRY(resblock(v, &u->res[j], x, err));
        if (u->mode != VAE_UP_NONE)
            DF_TRY(upsampler(v, u, x, err));
    }
    DF_TRY(rms_act(v, &v->norm_out, x, 1, &t, err));
    act_free(v, x);
    *x = t;
    DF_TRY(conv_forward(v, &v->conv_out, x, &t, err));
    act_free(v, x);
    *x = t;
    return 0;
}

int vae_decode_raw(struct vae *v, const float *latent, int T, int h, int w, int clamp,
                   vae_frame_fn on_frame, void *user, struct df_err *err)
{
    DF_FAIL_IF(T < 1 || h < 1 || w < 1, err, DF_E_INVAL, "VAE decode: bad latent size %dx%dx%d", T,
               h, w);
    reset_caches(v);
    const int Z = v->info.z_dim, hw = h * w;
    float *frame = malloc((size_t)hw * Z * sizeof(float));
    DF_FAIL_IF(!frame, err, DF_E_NOMEM, "VAE decode: out of memory for a %dx%d latent frame", h, w);
    int next_frame = 0, rc = 0;
    for (int i = 0; rc == 0 && i < T; i++) {
        struct act x = {0};
        for (int c = 0; c < Z; c++) /* [Z, T, h, w] -> channel-last frame */
            for (int p = 0; p < hw; p++)
                frame[(size_t)p * Z + c] = latent[((size_t)c * T + i) * hw + p];
        rc = act_new(v, &x, 1, h, w, Z, err);
        if (rc == 0)
            rc = kern_upload(v->be, x.d, frame, (size_t)hw * Z, err);
        if (rc == 0)
            rc = decode_chunk(v, &x, err);
        if (rc == 0)
            rc = emit_frames(v, &x, next_frame, clamp, on_frame, user, err);
        next_frame += x.frames;
        act_free(v, &x);
        if (rc < 0)
            df_err_prefix(err, "VAE decode of latent frame %d/%d", i + 1, T);
    }
    free(frame);
    return rc;
}

int vae_decode(struct vae *v, const float *latent, int T, int h, int w, vae_frame_fn on_frame,
               void *user, struct df_err *err)
{
    return vae_decode_raw(v, latent, T, h, w, 1, on_frame, user, err);
}
