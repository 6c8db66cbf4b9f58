/* usp_attn.c -- Ulysses × ring self-attention hook (usp_attn.h).
 *
 * Compute buffers (q2, the K/V ring blocks, partial outputs and LSEs) live in
 * backend memory and only kern_* ops touch them.  When the comms can move
 * backend memory themselves (the cpu backend on host comms; the cuda backend
 * on NCCL comms) the all-to-all buffers are packed by backend ops
 * (sp_plan.h's maps through kern_copy_2d: on a GPU, on its stream) and the
 * collectives read and write backend buffers; NCCL comms follow the
 * backend's stream (comm_nccl.h), so a ring transfer waits for the compute
 * that last read its buffer and overlaps the attention queued after it.
 * Otherwise (a GPU rank on MPI, or `stage`) every transfer is staged
 * through host buffers. */
#include "usp_attn.h"
#include "clock.h"

#include "comm_nccl.h"
#include "sp_plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct usp_attn {
    kern_backend_t be;
    comm_t uly, ring;
    struct usp_attn_shape sh;
    int host_is_device; /* the comms move backend buffers directly (no staging) */
    int hl;             /* heads per rank after the all-to-all: heads / ulysses */
    int64_t blk;        /* tokens of a ring block: ulysses · chunk */
    size_t row;         /* floats of one token: heads · head_dim */
    size_t local;       /* floats of chunk tokens = blk · hl · D */
    /* host */
    float *pad;         /* [chunk, H, D] padded copy of q, k or v / the output */
    float *pack;        /* [ulysses][chunk, hl, D] all-to-all buffer */
    float *recv;        /* [blk, hl, D] all-to-all receive buffer */
    float *hkv[2];      /* [2][blk, hl, D] ring transfer buffers (not used on cpu) */
    size_t *counts;     /* [ulysses] */
    struct sp_copy *map; /* [SP_MAX_COPIES(ulysses)] packing map (host_is_device) */
    float *dpack;       /* backend [ulysses][chunk, hl, D] all-to-all buffer (host_is_device) */
    /* backend */
    float *q2;          /* [blk, hl, D] */
    float *kv[2];       /* [2][blk, hl, D]: K then V, double-buffered for the ring */
    float *o, *o2;      /* [blk, hl, D] */
    float *lse, *lse2;  /* [hl, blk] */
    double comm_s;
};

/* Backend buffer -> host (a no-op when they are the same memory). */
static int to_host(struct usp_attn *a, float *host, const float *dev, size_t n, struct df_err *err)
{
    if (host == dev || n == 0)
        return 0;
    return kern_download(a->be, host, dev, n, err);
}

static int to_device(struct usp_attn *a, float *dev, const float *host, size_t n,
                     struct df_err *err)
{
    if (host == dev || n == 0)
        return 0;
    return kern_upload(a->be, dev, host, n, err);
}

/* Whether every comm given can move `be`'s buffers as they are: its memory
 * space (comm_caps.mem) is the backend's (backend_desc.mem) -- host comms
 * with the cpu backend, NCCL with cuda. */
static int comms_move_backend_memory(kern_backend_t be, comm_t uly, comm_t ring)
{
    const int dev = kern_backend_desc(be)->mem == BACKEND_MEM_DEVICE;
    const comm_t cs[2] = {uly, ring};
    for (int i = 0; i < 2; i++)
        if (cs[i] != NULL &&
            (comm_backend_caps(comm_backend_of(cs[i]))->mem == COMM_MEM_DEVICE) != dev)
            return 0;
    return 1;
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
    a->host_is_device = !sh->stage && comms_move_backend_memory(be, uly, ring);
    a->hl = sh->heads / sh->ulysses;
    a->blk = sh->ulysses * sh->chunk;
    a->row = (size_t)sh->heads * sh->head_dim;
    const size_t local = a->local = (size_t)sh->chunk * a->row;
    const size_t nlse = (size_t)a->hl * a->blk;
    int ok = (a->pad = malloc(local * sizeof(float))) &&
             (a->counts = malloc((size_t)sh->ulysses * sizeof(size_t))) &&
             (a->map = malloc(SP_MAX_COPIES(sh->ulysses) * sizeof(struct sp_copy)));
    if (ok && !a->host_is_device)
        ok = (a->pack = malloc(local * sizeof(float))) && (a->recv = malloc(local * sizeof(float)));
    if (ok && !a->host_is_device)
        ok = (a->hkv[0] = malloc(2 * local * sizeof(float))) &&
             (a->hkv[1] = malloc(2 * local * sizeof(float)));
    int rc = ok ? 0 : df_err_set(err, DF_E_NOMEM, "USP attention: out of memory");
    if (rc == 0 && (!(a->q2 = kern_alloc(be, local, err)) ||
                    !(a->kv[0] = kern_alloc(be, 2 * local, err)) ||
                    !(a->kv[1] = kern_alloc(be, 2 * local, err)) ||
                    !(a->o = kern_alloc(be, local, err)) || !(a->o2 = kern_alloc(be, local, err)) ||
                    !(a->lse = kern_alloc(be, nlse, err)) || !(a->lse2 = kern_alloc(be, nlse, err)) ||
                    (a->host_is_device && !(a->dpack = kern_alloc(be, local, err)))))
        rc = DF_E_NOMEM;
    if (rc == 0 && a->host_is_device && (rc = comm_nccl_follow_backend(uly, be, err)) == 0)
        rc = comm_nccl_follow_backend(ring, be, err);
    if (rc < 0) {
        usp_attn_free(a);
        return rc;
    }
    if (a->host_is_device) /* the ring sends straight from the compute buffers */
        a->hkv[0] = a->kv[0], a->hkv[1] = a->kv[1];
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
    free(a->recv);
    free(a->counts);
    free(a->map);
    kern_release(a->be, a->dpack);
    if (!a->host_is_device) {
        free(a->hkv[0]);
        free(a->hkv[1]);
    }
    kern_release(a->be, a->q2);
    kern_release(a->be, a->kv[0]);
    kern_release(a->be, a->kv[1]);
    kern_release(a->be, a->o);
    kern_release(a->be, a->o2);
    kern_release(a->be, a->lse);
    kern_release(a->be, a->lse2);
    free(a);
}

double usp_attn_comm_seconds(const struct usp_attn *a)
{
    return a->comm_s;
}

/* scatter_heads without staging: pack with backend ops, all-to-all between
 * backend buffers (U = 1: the pack is the result). */
static int scatter_backend(struct usp_attn *a, const float *x, int64_t s_local, float *dst,
                           struct df_err *err)
{
    const struct usp_attn_shape *sh = &a->sh;
    int n = 0;
    DF_TRY(sp_ulysses_pack_map(sh->ulysses, sh->chunk, sh->heads, sh->head_dim, s_local, a->map,
                               &n, err));
    float *packed = sh->ulysses == 1 ? dst : a->dpack;
    for (int i = 0; i < n; i++)
        DF_TRY(sp_copy_on(a->be, packed, x, &a->map[i], err));
    if (sh->ulysses == 1)
        return 0;
    double t0 = df_clock_s();
    int rc = comm_alltoallv(a->uly, a->dpack, a->counts, NULL, dst, a->counts, NULL, err);
    a->comm_s += df_clock_s() - t0;
    return rc;
}

/* x [s_local, H, D] (backend) real rows -> all-to-all -> dst [blk, hl, D]
 * (backend): this rank's ring block, its head slice.  Padding rows are zero. */
static int scatter_heads(struct usp_attn *a, const float *x, int64_t s_local, float *dst,
                         struct df_err *err)
{
    const struct usp_attn_shape *sh = &a->sh;
    if (a->host_is_device)
        return scatter_backend(a, x, s_local, dst, err);
    const size_t D = (size_t)sh->head_dim, hl = (size_t)a->hl;
    DF_TRY(kern_download(a->be, a->pad, x, (size_t)s_local * a->row, err));
    memset(a->pad + (size_t)s_local * a->row, 0,
           (size_t)(sh->chunk - s_local) * a->row * sizeof(float));
    if (sh->ulysses == 1)
        return kern_upload(a->be, dst, a->pad, a->local, err);
    /* destination j gets every local token's heads [j·hl, (j+1)·hl) */
    for (int j = 0; j < sh->ulysses; j++)
        for (int64_t t = 0; t < sh->chunk; t++)
            memcpy(a->pack + ((size_t)j * sh->chunk + t) * hl * D,
                   a->pad + (size_t)t * a->row + (size_t)j * hl * D, hl * D * sizeof(float));
    double t0 = df_clock_s();
    int rc = comm_alltoallv(a->uly, a->pack, a->counts, NULL, a->recv, a->counts, NULL, err);
    a->comm_s += df_clock_s() - t0;
    DF_TRY(rc);
    return kern_upload(a->be, dst, a->recv, a->local, err);
}

/* The inverse: o [blk, hl, D] (backend) -> all-to-all -> out [s_local, H, D]
 * (backend). */
static int gather_heads(struct usp_attn *a, const float *o, float *out, int64_t s_local,
                        struct df_err *err)
{
    const struct usp_attn_shape *sh = &a->sh;
    const size_t D = (size_t)sh->head_dim, hl = (size_t)a->hl;
    if (sh->ulysses == 1)
        return kern_copy(a->be, out, o, (size_t)s_local * a->row, err);
    if (a->host_is_device) { /* all-to-all between backend buffers, unpack by backend ops */
        double t0 = df_clock_s();
        int rc = comm_alltoallv(a->uly, o, a->counts, NULL, a->dpack, a->counts, NULL, err);
        a->comm_s += df_clock_s() - t0;
        DF_TRY(rc);
        int n = 0;
        DF_TRY(sp_ulysses_unpack_map(sh->ulysses, sh->chunk, sh->heads, sh->head_dim, s_local,
                                     a->map, &n, err));
        for (int i = 0; i < n; i++)
            DF_TRY(sp_copy_on(a->be, out, a->dpack, &a->map[i], err));
        return 0;
    }
    DF_TRY(kern_download(a->be, a->recv, o, a->local, err));
    /* rows [j·chunk, (j+1)·chunk) of o belong to ulysses rank j: already packed */
    double t0 = df_clock_s();
    int rc = comm_alltoallv(a->uly, a->recv, a->counts, NULL, a->pack, a->counts, NULL, err);
    a->comm_s += df_clock_s() - t0;
    DF_TRY(rc);
    for (int j = 0; j < sh->ulysses; j++)
        for (int64_t t = 0; t < s_local; t++)
            memcpy(a->pad + (size_t)t * a->row + (size_t)j * hl * D,
                   a->pack + ((size_t)j * sh->chunk + t) * hl * D, hl * D * sizeof(float));
    return kern_upload(a->be, out, a->pad, (size_t)s_local * a->row, err);
}

/* Real keys of ring block b (tail padding is masked). */
static int block_valid(const struct usp_attn *a, int b)
{
    int64_t v = a->sh.seq_len - (int64_t)b * a->blk;
    return (int)(v < 0 ? 0 : v > a->blk ? a->blk : v);
}

/* -INFINITY lse and zero o: "no keys yet", which the merge accepts. */
static int reset_partial(struct usp_attn *a, struct df_err *err)
{
    const size_t nlse = (size_t)a->hl * a->blk;
    DF_TRY(kern_zero(a->be, a->o, a->local, err));
    for (size_t i = 0; i < a->local && i < nlse; i++)
        a->pad[i] = -INFINITY; /* pad is free here and holds >= nlse floats */
    return kern_upload(a->be, a->lse, a->pad, nlse, err);
}

static int ring_attention(struct usp_attn *a, struct df_err *err)
{
    const struct usp_attn_shape *sh = &a->sh;
    const int S = (int)a->blk, hl = a->hl, D = sh->head_dim, r = sh->ring;
    const size_t n = a->local;
    const float scale = 1.0f / sqrtf((float)D);
    if (r == 1) /* one block: plain attention, no merge */
        return kern_attention(a->be, a->q2, a->kv[0], a->kv[0] + n, a->o, NULL, S, S, hl, D,
                              block_valid(a, sh->ring_idx), scale, err);
    DF_TRY(reset_partial(a, err));
    int cur = 0;
    const int next = (sh->ring_idx + 1) % r, prev = (sh->ring_idx + r - 1) % r;
    for (int s = 0; s < r; s++) {
        comm_req_t req = NULL;
        if (s < r - 1) { /* pass this block on while attending to it */
            DF_TRY(to_host(a, a->hkv[cur], a->kv[cur], 2 * n, err));
            DF_TRY(comm_sendrecv_start(a->ring, a->hkv[cur], 2 * n, next, a->hkv[1 - cur], 2 * n,
                                       prev, &req, err));
        }
        int b = (sh->ring_idx - s + r) % r, valid = block_valid(a, b);
        int rc = 0;
        if (valid > 0) {
            rc = kern_attention(a->be, a->q2, a->kv[cur], a->kv[cur] + n, a->o2, a->lse2, S, S,
                                hl, D, valid, scale, err);
            if (rc == 0)
                rc = kern_attention_merge(a->be, a->o, a->lse, a->o2, a->lse2, S, hl, D, err);
        }
        if (req) {
            double t0 = df_clock_s();
            int wrc = comm_wait(req, err);
            a->comm_s += df_clock_s() - t0;
            if (rc == 0)
                rc = wrc;
            if (rc == 0)
                rc = to_device(a, a->kv[1 - cur], a->hkv[1 - cur], 2 * n, err);
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
    DF_TRY(scatter_heads(a, q, s_local, a->q2, err));
    DF_TRY(scatter_heads(a, k, s_local, a->kv[0], err));
    DF_TRY(scatter_heads(a, v, s_local, a->kv[0] + a->local, err));
    DF_TRY(ring_attention(a, err));
    return gather_heads(a, a->o, o, s_local, err);
}

struct family_attn_hook usp_attn_hook(struct usp_attn *a)
{
    return (struct family_attn_hook){usp_attend, a};
}
