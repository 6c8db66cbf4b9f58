/*
 * kern.c -- the thin front end of kern.h.
 *
 * Each call checks the handle and the arguments every backend would check
 * the same way (NULL pointers, sizes, weight shapes, patch geometry), then
 * calls the backend's slot.  A NULL slot answers DF_E_UNSUPPORTED.  Keeping
 * the checks here means a backend slot can assume sane arguments.
 */
#include "kern_impl.h"

#include <stdlib.h>
#include <string.h>

/* THE REGISTRY: backends compiled into this build, how to open each.  What
 * a backend is (memory space, device selection, weight storage) is its line
 * in lib/backend_desc.c; a new backend adds both lines (and its folder,
 * kernels/<name>/, with a CMake target linked into ditfarm_kernels). */
struct backend_entry {
    const char *name; /* = its backend_desc name */
    int (*open)(int n_threads, int device, const struct kern_backend_i **iface, void **ctx,
                struct df_err *err);
};

static const struct backend_entry backends[] = {
    {"cpu", kern_cpu_open},
#ifdef DITFARM_HAVE_CUDA
    {"cuda", kern_cuda_open},
#endif
};

#define BE_OK(be) ((be) != NULL && (be)->magic == KERN_BACKEND_MAGIC)

/* Handle check + slot lookup shared by every op: returns from the caller. */
#define FRONT(be, err, slot)                                                                       \
    do {                                                                                           \
        if (!BE_OK(be))                                                                            \
            return df_err_set((err), DF_E_INVAL, "kern_%s: invalid backend handle", #slot);        \
        if ((be)->iface->slot == NULL)                                                             \
            return df_err_set((err), DF_E_UNSUPPORTED, "kern_%s: not supported by backend '%s'",   \
                              #slot, (be)->iface->name);                                           \
    } while (0)

#define NEED(cond, err, ...) DF_FAIL_IF(!(cond), (err), DF_E_INVAL, __VA_ARGS__)

int kern_backend_create(const char *name, int n_threads, kern_backend_t *out, struct df_err *err)
{
    return kern_backend_create_on(name, n_threads, -1, out, err);
}

int kern_backend_create_on(const char *name, int n_threads, int device, kern_backend_t *out,
                           struct df_err *err)
{
    NEED(name != NULL && out != NULL, err, "kern_backend_create: NULL name or out");
    NEED(n_threads >= 0, err, "kern_backend_create: n_threads %d < 0", n_threads);
    *out = NULL;
    const struct backend_entry *entry = NULL;
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i].name, name) == 0)
            entry = &backends[i];
    if (entry == NULL) {
        char known[128];
        backend_desc_names(known, sizeof known);
        if (backend_desc_find(name))
            return df_err_set(err, DF_E_UNSUPPORTED,
                              "kern_backend_create: backend '%s' is not compiled into this build",
                              name);
        return df_err_set(err, DF_E_UNSUPPORTED,
                          "kern_backend_create: backend '%s' is unknown (known: %s)", name, known);
    }
    struct kern_backend *be = calloc(1, sizeof *be);
    if (be == NULL)
        return df_err_set(err, DF_E_NOMEM, "kern_backend_create: out of memory");
    int rc = entry->open(n_threads, device, &be->iface, &be->ctx, err);
    if (rc < 0) {
        free(be);
        return rc;
    }
    be->magic = KERN_BACKEND_MAGIC;
    *out = be;
    return 0;
}

void kern_backend_free(kern_backend_t be)
{
    if (!BE_OK(be))
        return;
    be->iface->free(be->ctx);
    be->magic = 0;
    free(be);
}

const char *kern_backend_name(kern_backend_t be)
{
    return BE_OK(be) ? be->iface->name : "(null)";
}

const struct backend_desc *kern_backend_desc(kern_backend_t be)
{
    return BE_OK(be) ? backend_desc_find(be->iface->name) : NULL;
}

int kern_backend_compiled(const char *name)
{
    for (size_t i = 0; name && i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i].name, name) == 0)
            return 1;
    return 0;
}

int kern_sync(kern_backend_t be, struct df_err *err)
{
    NEED(BE_OK(be), err, "kern_sync: invalid backend handle");
    return be->iface->sync ? be->iface->sync(be->ctx, err) : 0;
}

/* ------------------------------------------------------------------------- */

float *kern_alloc(kern_backend_t be, size_t n_floats, struct df_err *err)
{
    if (!BE_OK(be)) {
        df_err_set(err, DF_E_INVAL, "kern_alloc: invalid backend handle");
        return NULL;
    }
    if (n_floats == 0 || n_floats > SIZE_MAX / sizeof(float)) {
        df_err_set(err, DF_E_INVAL, "kern_alloc: bad size %zu floats", n_floats);
        return NULL;
    }
    return be->iface->alloc(be->ctx, n_floats, err);
}

void kern_release(kern_backend_t be, void *p)
{
    if (BE_OK(be) && p != NULL)
        be->iface->release(be->ctx, p);
}

int kern_upload(kern_backend_t be, float *dst_dev, const float *src_host, size_t n,
                struct df_err *err)
{
    FRONT(be, err, upload);
    NEED(dst_dev && src_host, err, "kern_upload: NULL buffer");
    return n ? be->iface->upload(be->ctx, dst_dev, src_host, n, err) : 0;
}

int kern_download(kern_backend_t be, float *dst_host, const float *src_dev, size_t n,
                  struct df_err *err)
{
    FRONT(be, err, download);
    NEED(dst_host && src_dev, err, "kern_download: NULL buffer");
    return n ? be->iface->download(be->ctx, dst_host, src_dev, n, err) : 0;
}

int kern_copy(kern_backend_t be, float *dst, const float *src, size_t n, struct df_err *err)
{
    FRONT(be, err, copy);
    NEED(dst && src, err, "kern_copy: NULL buffer");
    return n ? be->iface->copy(be->ctx, dst, src, n, err) : 0;
}

int kern_zero(kern_backend_t be, float *dst, size_t n, struct df_err *err)
{
    FRONT(be, err, zero);
    NEED(dst != NULL, err, "kern_zero: NULL buffer");
    return n ? be->iface->zero(be->ctx, dst, n, err) : 0;
}

/* ------------------------------------------------------------------------- */

int kern_weight_create(kern_backend_t be, const float *host, int rows, int cols,
                       struct kern_weight **out, struct df_err *err)
{
    FRONT(be, err, weight_init);
    NEED(host && out, err, "kern_weight_create: NULL host data or out");
    NEED(rows > 0 && cols > 0, err, "kern_weight_create: bad shape [%d, %d]", rows, cols);
    *out = NULL;
    struct kern_weight *w = calloc(1, sizeof *w);
    if (w == NULL)
        return df_err_set(err, DF_E_NOMEM, "kern_weight_create: out of memory");
    w->rows = rows;
    w->cols = cols;
    int rc = be->iface->weight_init(be->ctx, w, host, err);
    if (rc < 0) {
        free(w);
        return rc;
    }
    w->magic = KERN_WEIGHT_MAGIC;
    *out = w;
    return 0;
}

int kern_weight_load_bf16(kern_backend_t be, struct kern_weight *w, const uint16_t *host,
                          struct df_err *err)
{
    FRONT(be, err, weight_load_bf16);
    NEED(w && host && w->magic == KERN_WEIGHT_MAGIC, err,
         "kern_weight_load_bf16: NULL or invalid weight, or NULL host data");
    return be->iface->weight_load_bf16(be->ctx, w, host, err);
}

void kern_weight_free(kern_backend_t be, struct kern_weight *w)
{
    if (!BE_OK(be) || w == NULL || w->magic != KERN_WEIGHT_MAGIC)
        return;
    if (be->iface->weight_fini)
        be->iface->weight_fini(be->ctx, w);
    w->magic = 0;
    free(w);
}

/* ------------------------------------------------------------------------- */

int kern_linear(kern_backend_t be, const float *x, const struct kern_weight *w, const float *bias,
                float *y, int M, int K, int N, struct df_err *err)
{
    FRONT(be, err, linear);
    NEED(x && y, err, "kern_linear: NULL x or y");
    NEED(w && w->magic == KERN_WEIGHT_MAGIC, err, "kern_linear: invalid weight");
    NEED(M > 0 && K > 0 && N > 0, err, "kern_linear: bad sizes M=%d K=%d N=%d", M, K, N);
    NEED(w->rows == N && w->cols == K, err,
         "kern_linear: weight is [%d, %d] but the call wants [N=%d, K=%d]", w->rows, w->cols, N, K);
    return be->iface->linear(be->ctx, x, w, bias, y, M, K, N, err);
}

int kern_linear_gelu(kern_backend_t be, const float *x, const struct kern_weight *w,
                     const float *bias, float *y, int M, int K, int N, struct df_err *err)
{
    NEED(BE_OK(be), err, "kern_linear_gelu: invalid backend handle");
    if (be->iface->linear_gelu == NULL) { /* not fused here: the two plain ops */
        DF_TRY(kern_linear(be, x, w, bias, y, M, K, N, err));
        return kern_gelu_tanh(be, y, y, (size_t)M * (size_t)N, err);
    }
    NEED(x && y, err, "kern_linear_gelu: NULL x or y");
    NEED(w && w->magic == KERN_WEIGHT_MAGIC, err, "kern_linear_gelu: invalid weight");
    NEED(M > 0 && K > 0 && N > 0, err, "kern_linear_gelu: bad sizes M=%d K=%d N=%d", M, K, N);
    NEED(w->rows == N && w->cols == K, err,
         "kern_linear_gelu: weight is [%d, %d] but the call wants [N=%d, K=%d]", w->rows, w->cols,
         N, K);
    return be->iface->linear_gelu(be->ctx, x, w, bias, y, M, K, N, err);
}

int kern_layernorm(kern_backend_t be, const float *x, float *y, int rows, int dim, float eps,
                   const float *gamma, const float *beta, struct df_err *err)
{
    FRONT(be, err, layernorm);
    NEED(x && y, err, "kern_layernorm: NULL x or y");
    NEED(rows > 0 && dim > 0, err, "kern_layernorm: bad sizes rows=%d dim=%d", rows, dim);
    NEED(eps >= 0.0f, err, "kern_layernorm: eps %g < 0", (double)eps);
    return be->iface->layernorm(be->ctx, x, y, rows, dim, eps, gamma, beta, err);
}

int kern_rmsnorm(kern_backend_t be, const float *x, float *y, int rows, int dim, float eps,
                 const float *gamma, struct df_err *err)
{
    FRONT(be, err, rmsnorm);
    NEED(x && y, err, "kern_rmsnorm: NULL x or y");
    NEED(rows > 0 && dim > 0, err, "kern_rmsnorm: bad sizes rows=%d dim=%d", rows, dim);
    NEED(eps >= 0.0f, err, "kern_rmsnorm: eps %g < 0", (double)eps);
    return be->iface->rmsnorm(be->ctx, x, y, rows, dim, eps, gamma, err);
}

int kern_norm_modulate(kern_backend_t be, const float *x, float *y, int rows, int dim, float eps,
                       const float *scale, const float *shift, struct df_err *err)
{
    NEED(BE_OK(be), err, "kern_norm_modulate: invalid backend handle");
    if (be->iface->norm_modulate == NULL) {
        DF_TRY(kern_layernorm(be, x, y, rows, dim, eps, NULL, NULL, err));
        return kern_modulate(be, y, y, rows, dim, scale, shift, err);
    }
    NEED(x && y && scale && shift, err, "kern_norm_modulate: NULL buffer");
    NEED(rows > 0 && dim > 0, err, "kern_norm_modulate: bad sizes rows=%d dim=%d", rows, dim);
    NEED(eps >= 0.0f, err, "kern_norm_modulate: eps %g < 0", (double)eps);
    return be->iface->norm_modulate(be->ctx, x, y, rows, dim, eps, scale, shift, err);
}

int kern_rope(kern_backend_t be, float *x, int S, int H, int D, const float *cos, const float *sin,
              struct df_err *err)
{
    FRONT(be, err, rope);
    NEED(x && cos && sin, err, "kern_rope: NULL x, cos or sin");
    NEED(S > 0 && H > 0 && D > 0, err, "kern_rope: bad sizes S=%d H=%d D=%d", S, H, D);
    NEED(D % 2 == 0, err, "kern_rope: head dim D=%d is odd", D);
    return be->iface->rope(be->ctx, x, S, H, D, cos, sin, err);
}

int kern_qk_norm_rope(kern_backend_t be, float *x, int S, int H, int D, float eps,
                      const float *gamma, const float *cos, const float *sin, struct df_err *err)
{
    NEED(BE_OK(be), err, "kern_qk_norm_rope: invalid backend handle");
    if (be->iface->qk_norm_rope == NULL) {
        DF_TRY(kern_rmsnorm(be, x, x, S, H * D, eps, gamma, err));
        return kern_rope(be, x, S, H, D, cos, sin, err);
    }
    NEED(x && cos && sin, err, "kern_qk_norm_rope: NULL x, cos or sin");
    NEED(S > 0 && H > 0 && D > 0, err, "kern_qk_norm_rope: bad sizes S=%d H=%d D=%d", S, H, D);
    NEED(D % 2 == 0, err, "kern_qk_norm_rope: head dim D=%d is odd", D);
    NEED(eps >= 0.0f, err, "kern_qk_norm_rope: eps %g < 0", (double)eps);
    return be->iface->qk_norm_rope(be->ctx, x, S, H, D, eps, gamma, cos, sin, err);
}

/* ------------------------------------------------------------------------- */

int kern_attention(kern_backend_t be, const float *q, const float *k, const float *v, float *o,
                   float *lse, int Sq, int Sk, int H, int D, int sk_valid, float scale,
                   struct df_err *err)
{
    FRONT(be, err, attention);
    NEED(q && k && v && o, err, "kern_attention: NULL q, k, v or o");
    NEED(Sq > 0 && Sk > 0 && H > 0 && D > 0, err, "kern_attention: bad sizes Sq=%d Sk=%d H=%d D=%d",
         Sq, Sk, H, D);
    NEED(sk_valid >= 1 && sk_valid <= Sk, err, "kern_attention: sk_valid=%d outside [1, Sk=%d]",
         sk_valid, Sk);
    return be->iface->attention(be->ctx, q, k, v, o, lse, Sq, Sk, H, D, sk_valid, scale, err);
}

int kern_attention_merge(kern_backend_t be, float *o, float *lse, const float *o2,
                         const float *lse2, int Sq, int H, int D, struct df_err *err)
{
    FRONT(be, err, attention_merge);
    NEED(o && lse && o2 && lse2, err, "kern_attention_merge: NULL buffer");
    NEED(Sq > 0 && H > 0 && D > 0, err, "kern_attention_merge: bad sizes Sq=%d H=%d D=%d", Sq, H,
         D);
    return be->iface->attention_merge(be->ctx, o, lse, o2, lse2, Sq, H, D, err);
}

int kern_attention_relbias(kern_backend_t be, const float *q, const float *k, const float *v,
                           float *o, int Sq, int Sk, int H, int D, float scale,
                           const float *rel_bias, struct df_err *err)
{
    FRONT(be, err, attention_relbias);
    NEED(q && k && v && o && rel_bias, err, "kern_attention_relbias: NULL q, k, v, o or rel_bias");
    NEED(Sq > 0 && Sk > 0 && H > 0 && D > 0, err,
         "kern_attention_relbias: bad sizes Sq=%d Sk=%d H=%d D=%d", Sq, Sk, H, D);
    return be->iface->attention_relbias(be->ctx, q, k, v, o, Sq, Sk, H, D, scale, rel_bias, err);
}

/* ------------------------------------------------------------------------- */

int kern_gelu_tanh(kern_backend_t be, const float *x, float *y, size_t n, struct df_err *err)
{
    FRONT(be, err, gelu_tanh);
    NEED(x && y, err, "kern_gelu_tanh: NULL x or y");
    return n ? be->iface->gelu_tanh(be->ctx, x, y, n, err) : 0;
}

int kern_silu(kern_backend_t be, const float *x, float *y, size_t n, struct df_err *err)
{
    FRONT(be, err, silu);
    NEED(x && y, err, "kern_silu: NULL x or y");
    return n ? be->iface->silu(be->ctx, x, y, n, err) : 0;
}

int kern_modulate(kern_backend_t be, const float *x, float *y, int rows, int dim,
                  const float *scale, const float *shift, struct df_err *err)
{
    FRONT(be, err, modulate);
    NEED(x && y && scale && shift, err, "kern_modulate: NULL buffer");
    NEED(rows > 0 && dim > 0, err, "kern_modulate: bad sizes rows=%d dim=%d", rows, dim);
    return be->iface->modulate(be->ctx, x, y, rows, dim, scale, shift, err);
}

int kern_gated_add(kern_backend_t be, float *x, const float *y, const float *gate, int rows,
                   int dim, struct df_err *err)
{
    FRONT(be, err, gated_add);
    NEED(x && y && gate, err, "kern_gated_add: NULL buffer");
    NEED(rows > 0 && dim > 0, err, "kern_gated_add: bad sizes rows=%d dim=%d", rows, dim);
    return be->iface->gated_add(be->ctx, x, y, gate, rows, dim, err);
}

int kern_add(kern_backend_t be, float *x, const float *y, size_t n, struct df_err *err)
{
    FRONT(be, err, add);
    NEED(x && y, err, "kern_add: NULL x or y");
    return n ? be->iface->add(be->ctx, x, y, n, err) : 0;
}

int kern_scale_add(kern_backend_t be, float *y, const float *x, float a, size_t n,
                   struct df_err *err)
{
    FRONT(be, err, scale_add);
    NEED(x && y, err, "kern_scale_add: NULL x or y");
    return n ? be->iface->scale_add(be->ctx, y, x, a, n, err) : 0;
}

/* ------------------------------------------------------------------------- */

/* Shared geometry check of patchify/unpatchify. */
static int check_patch(const char *op, int C, int T, int H, int W, int pt, int ph, int pw,
                       int64_t tok_begin, int64_t tok_count, struct df_err *err)
{
    NEED(C > 0 && T > 0 && H > 0 && W > 0, err, "%s: bad latent [C=%d, T=%d, H=%d, W=%d]", op, C, T,
         H, W);
    NEED(pt > 0 && ph > 0 && pw > 0, err, "%s: bad patch (%d, %d, %d)", op, pt, ph, pw);
    NEED(T % pt == 0 && H % ph == 0 && W % pw == 0, err,
         "%s: latent [T=%d, H=%d, W=%d] not divisible by patch (%d, %d, %d)", op, T, H, W, pt, ph,
         pw);
    int64_t n_tok = (int64_t)(T / pt) * (H / ph) * (W / pw);
    NEED(tok_begin >= 0 && tok_count >= 0 && tok_begin + tok_count <= n_tok, err,
         "%s: token range [%lld, %lld) outside [0, %lld)", op, (long long)tok_begin,
         (long long)(tok_begin + tok_count), (long long)n_tok);
    return 0;
}

int kern_patchify(kern_backend_t be, const float *latent, float *cols, int C, int T, int H, int W,
                  int pt, int ph, int pw, int64_t tok_begin, int64_t tok_count, struct df_err *err)
{
    FRONT(be, err, patchify);
    NEED(latent && cols, err, "kern_patchify: NULL latent or cols");
    DF_TRY(check_patch("kern_patchify", C, T, H, W, pt, ph, pw, tok_begin, tok_count, err));
    if (tok_count == 0)
        return 0;
    return be->iface->patchify(be->ctx, latent, cols, C, T, H, W, pt, ph, pw, tok_begin, tok_count,
                               err);
}

int kern_unpatchify(kern_backend_t be, const float *tokens, float *latent, int C, int T, int H,
                    int W, int pt, int ph, int pw, int64_t tok_begin, int64_t tok_count,
                    struct df_err *err)
{
    FRONT(be, err, unpatchify);
    NEED(tokens && latent, err, "kern_unpatchify: NULL tokens or latent");
    DF_TRY(check_patch("kern_unpatchify", C, T, H, W, pt, ph, pw, tok_begin, tok_count, err));
    if (tok_count == 0)
        return 0;
    return be->iface->unpatchify(be->ctx, tokens, latent, C, T, H, W, pt, ph, pw, tok_begin,
                                 tok_count, err);
}

/* ------------------------------------------------------------------------- */

int kern_im2col_causal(kern_backend_t be, const float *const *frames, int kt, int H, int W, int C,
                       int kh, int kw, int y0, int y1, float *cols, struct df_err *err)
{
    FRONT(be, err, im2col_causal);
    NEED(frames && cols, err, "kern_im2col_causal: NULL frames or cols");
    NEED(kt >= 1 && kt <= KERN_IM2COL_MAX_KT, err, "kern_im2col_causal: kt=%d outside [1, %d]", kt,
         KERN_IM2COL_MAX_KT);
    NEED(kh > 0 && kw > 0 && kh % 2 == 1 && kw % 2 == 1, err,
         "kern_im2col_causal: kernel %dx%d must be odd", kh, kw);
    NEED(H > 0 && W > 0 && C > 0, err, "kern_im2col_causal: bad frame [H=%d, W=%d, C=%d]", H, W, C);
    NEED(y0 >= 0 && y0 <= y1 && y1 <= H, err, "kern_im2col_causal: rows [%d, %d) outside [0, %d]",
         y0, y1, H);
    if (y0 == y1)
        return 0;
    return be->iface->im2col_causal(be->ctx, frames, kt, H, W, C, kh, kw, y0, y1, cols, err);
}

int kern_upsample2x(kern_backend_t be, const float *x, float *y, int frames, int H, int W, int C,
                    struct df_err *err)
{
    FRONT(be, err, upsample2x);
    NEED(x && y, err, "kern_upsample2x: NULL x or y");
    NEED(frames > 0 && H > 0 && W > 0 && C > 0, err,
         "kern_upsample2x: bad sizes frames=%d H=%d W=%d C=%d", frames, H, W, C);
    return be->iface->upsample2x(be->ctx, x, y, frames, H, W, C, err);
}

int kern_copy_2d(kern_backend_t be, float *dst, size_t dst_ld, const float *src, size_t src_ld,
                 size_t rows, size_t cols, struct df_err *err)
{
    FRONT(be, err, copy_2d);
    NEED(dst && src, err, "kern_copy_2d: NULL dst or src");
    NEED(dst_ld >= cols && src_ld >= cols, err,
         "kern_copy_2d: leading dimensions dst %zu / src %zu < %zu columns", dst_ld, src_ld, cols);
    if (rows == 0 || cols == 0)
        return 0;
    return be->iface->copy_2d(be->ctx, dst, dst_ld, src, src_ld, rows, cols, err);
}
