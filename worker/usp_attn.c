/* usp_attn.c -- Ulysses × ring self-attention hook (usp_attn.h). */
#include "usp_attn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct usp_attn {
    kern_backend_t be;
    comm_t uly, ring;
    struct usp_attn_shape sh;
    int hl;             /* heads per rank after the all-to-all: heads / ulysses */
    int64_t blk;        /* tokens of a ring block: ulysses · chunk */
    size_t row;         /* floats of one token: heads · head_dim */
    float *pad;         /* [chunk, H, D] padded copy of q, k or v / the output */
    float *pack;        /* [ulysses][chunk, hl, D] all-to-all send buffer */
    float *q2;          /* [blk, hl, D] */
    float *kv[2];       /* [2][blk, hl, D]: K then V, double-buffered for the ring */
    float *o, *o2;      /* [blk, hl, D] */
    float *lse, *lse2;  /* [hl, blk] */
    size_t *counts;     /* [ulysses] */
    double comm_s;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int usp_attn_create(kern_backend_t be, comm_t uly, comm_t ring, const struct usp_attn_shape *sh,
                    struct usp_attn **out, struct df_err *err)
{
    DF_FAIL_IF(sh->ulysses < 1 || sh->ring < 1 || sh->heads % sh->ulysses != 0, err, DF_E_INVAL,
               "USP attention: %d heads cannot be split over ulysses %d", sh->heads, sh->ulysses);
    DF_FAIL_IF(sh->chunk < 1 || sh->seq_len < 1 || sh->head_dim < 1, err, DF_E_INVAL,
               "USP attention: bad sizes (chunk %lld, seq %lld, head_dim %d)",
               (long long)sh->chunk, (long long)sh->seq_len, sh->head_dim);
    struct usp_attn *a = calloc(1, sizeof(*a));
    DF_FAIL_IF(!a, err, DF_E_NOMEM, "USP attention: out of memory");
    a->be = be, a->uly = uly, a->ring = ring, a->sh = *sh;
    a->hl = sh->heads / sh->ulysses;
    a->blk = sh->ulysses * sh->chunk;
    a->row = (size_t)sh->heads * sh->head_dim;
    size_t local = (size_t)sh->chunk * a->row; /* = blk · hl · D */
    a->pad = malloc(local * sizeof(float));
    a->pack = malloc(local * sizeof(float));
    a->q2 = malloc(local * sizeof(float));
    a->kv[0] = malloc(2 * local * sizeof(float));
    a->kv[1] = malloc(2 * local * sizeof(float));
    a->o = malloc(local * sizeof(float));
    a->o2 = malloc(local * sizeof(float));
    a->lse = malloc((size_t)a->hl * a->blk * sizeof(float));
    a->lse2 = malloc((size_t)a->hl * a->blk * sizeof(float));
    a->counts = malloc((size_t)sh->ulysses * sizeof(size_t));
    if (!a->pad || !a->pack || !a->q2 || !a->kv[0] || !a->kv[1] || !a->o || !a->o2 || !a->lse ||
        !a->lse2 || !a->counts) {
        usp_attn_free(a);
        return df_err_set(err, DF_E_NOMEM, "USP attention: out of memory for %zu-float buffers",
                          local);
    }
    for (int j = 0; j < sh->ulysses; j++)
        a->counts[j] = local / (size_t)sh->ulysses;
    *out = a;
    return 0;
}

void usp_attn_free(struct usp_attn *a)
{
    if (!a)
        return;
    free(a->pad);
    free(a->pack);
    free(a->q2);
    free(a->kv[0]);
    free(a->kv[1]);
    free(a->o);
    free(a->o2);
    free(a->lse);
    free(a->lse2);
    free(a->counts);
    free(a);
}

double usp_attn_comm_seconds(const struct usp_attn *a)
{
    return a->comm_s;
}

/* [s_local, H, D] real rows -> all-to-all -> dst [blk, hl, D] (this rank's
 * ring block, its head slice).  Padding rows are zero. */
static int scatter_heads(struct usp_attn *a, const float *x, int64_t s_local, float *dst,
                         struct df_err *err)
{
    const struct usp_attn_shape *sh = &a->sh;
    const size_t D = (size_t)sh->head_dim, hl = (size_t)a->hl;
    memcpy(a->pad, x, (size_t)s_local * a->row * sizeof(float));
    memset(a->pad + (size_t)s_local * a->row, 0,
           (size_t)(sh->chunk - s_local) * a->row * sizeof(float));
    if (sh->ulysses == 1) {
        memcpy(dst, a->pad, (size_t)sh->chunk * a->row * sizeof(float));
        return 0;
    }
    /* destination j gets every local token's heads [j·hl, (j+1)·hl) */
    for (int j = 0; j < sh->ulysses; j++)
        for (int64_t t = 0; t < sh->chunk; t++)
            memcpy(a->pack + ((size_t)j * sh->chunk + t) * hl * D,
                   a->pad + (size_t)t * a->row + (size_t)j * hl * D, hl * D * sizeof(float));
    double t0 = now_s();
    int rc = comm_alltoallv(a->uly, a->pack, a->counts, NULL, dst, a->counts, NULL, err);
    a->comm_s += now_s() - t0;
    return rc;
}

/* The inverse: o [blk, hl, D] -> all-to-all -> out [s_local, H, D]. */
static int gather_heads(struct usp_attn *a, const float *o, float *out, int64_t s_local,
                        struct df_err *err)
{
    const struct usp_attn_shape *sh = &a->sh;
    const size_t D = (size_t)sh->head_dim, hl = (size_t)a->hl;
    if (sh->ulysses == 1) {
        memcpy(out, o, (size_t)s_local * a->row * sizeof(float));
        return 0;
    }
    /* rows [j·chunk, (j+1)·chunk) of o belong to ulysses rank j: already packed */
    double t0 = now_s();
    int rc = comm_alltoallv(a->uly, o, a->counts, NULL, a->pack, a->counts, NULL, err);
    a->comm_s += now_s() - t0;
    if (rc < 0)
        return rc;
    for (int j = 0; j < sh->ulysses; j++)
        for (int64_t t = 0; t < s_local; t++)
            memcpy(out + (size_t)t * a->row + (size_t)j * hl * D,
                   a->pack + ((size_t)j * sh->chunk + t) * hl * D, hl * D * sizeof(float));
    return 0;
}

/* Real keys of ring block b (tail padding is masked). */
static int block_valid(const struct usp_attn *a, int b)
{
    int64_t v = a->sh.seq_len - (int64_t)b * a->blk;
    return (int)(v < 0 ? 0 : v > a->blk ? a->blk : v);
}

static int ring_attention(struct usp_attn *a, struct df_err *err)
{
    const struct usp_attn_shape *sh = &a->sh;
    const int S = (int)a->blk, hl = a->hl, D = sh->head_dim, r = sh->ring;
    const size_t n = (size_t)a->blk * hl * D;
    const float scale = 1.0f / sqrtf((float)D);
    if (r == 1) /* one block: plain attention, no merge */
        return kern_attention(a->be, a->q2, a->kv[0], a->kv[0] + n, a->o, NULL, S, S, hl, D,
                              block_valid(a, sh->ring_idx), scale, err);
    memset(a->o, 0, n * sizeof(float));
    for (size_t i = 0; i < (size_t)hl * a->blk; i++)
        a->lse[i] = -INFINITY;
    int cur = 0;
    const int next = (sh->ring_idx + 1) % r, prev = (sh->ring_idx + r - 1) % r;
    for (int s = 0; s < r; s++) {
        comm_req_t req = NULL;
        if (s < r - 1) /* pass this block on while attending to it */
            DF_TRY(comm_sendrecv_start(a->ring, a->kv[cur], 2 * n, next, a->kv[1 - cur], 2 * n,
                                       prev, &req, err));
        int b = (sh->ring_idx - s + r) % r, valid = block_valid(a, b);
        int rc = 0;
        if (valid > 0) {
            rc = kern_attention(a->be, a->q2, a->kv[cur], a->kv[cur] + n, a->o2, a->lse2, S, S,
                                hl, D, valid, scale, err);
            if (rc == 0)
                rc = kern_attention_merge(a->be, a->o, a->lse, a->o2, a->lse2, S, hl, D, err);
        }
        if (req) {
            double t0 = now_s();
            int wrc = comm_wait(req, err);
            a->comm_s += now_s() - t0;
            if (rc == 0)
                rc = wrc;
        }
        DF_TRY(rc);
        cur = 1 - cur;
    }
    return 0;
}

static int usp_attend(void *ctx, kern_backend_t be, int layer, const float *q, const float *k,
                      const float *v, float *o, int64_t s_local, int heads, int head_dim,
                      struct df_err *err)
{
    (void)be;
    struct usp_attn *a = ctx;
    DF_FAIL_IF(heads != a->sh.heads || head_dim != a->sh.head_dim || s_local > a->sh.chunk ||
                   s_local < 0,
               err, DF_E_INVAL,
               "USP attention (layer %d): got %lld tokens x %d heads x %d, set up for <= %lld x "
               "%d x %d",
               layer, (long long)s_local, heads, head_dim, (long long)a->sh.chunk, a->sh.heads,
               a->sh.head_dim);
    const size_t n = (size_t)a->blk * a->hl * a->sh.head_dim;
    DF_TRY(scatter_heads(a, q, s_local, a->q2, err));
    DF_TRY(scatter_heads(a, k, s_local, a->kv[0], err));
    DF_TRY(scatter_heads(a, v, s_local, a->kv[0] + n, err));
    DF_TRY(ring_attention(a, err));
    return gather_heads(a, a->o, o, s_local, err);
}

struct wan_attn_hook usp_attn_hook(struct usp_attn *a)
{
    return (struct wan_attn_hook){usp_attend, a};
}
