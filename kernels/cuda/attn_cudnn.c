/*
 * attn_cudnn.c -- kern_attention on cuDNN's fused scaled-dot-product
 * attention, through the graph backend C API (cudnn_graph.h; the C++
 * frontend is not needed).
 *
 * One graph per shape: a single CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR
 * node (cuDNN >= 9.13) with
 *   Q, O  [1, H, Sq, D]   strides [Sq·H·D, D, H·D, 1]   bf16  (our [Sq, H, D])
 *   K, V  [1, H, Skv, D]  strides [Skv·H·D, D, H·D, 1]  bf16  (K itself, not Kᵀ)
 *   Stats [1, H, Sq, 1]   strides [H·Sq, Sq, 1, 1]      fp32  (our lse [H, Sq])
 *   scale [1, 1, 1, 1]    by value                      fp32
 * then heuristics (mode A), the first engine config that finalizes into an
 * execution plan, and its workspace.  Padded keys (sk_valid < Sk) need no
 * mask: the caller passes Skv = sk_valid, the padding rows being last.
 *
 * Statistics: cuDNN's Stats output of the SDPA forward is the natural-log
 * sum of exponentials of the scaled scores per row -- the LSE the ring merge
 * (kern_attention_merge) combines.
 *
 * What is unmeasured: this file compiles against cuDNN 9.19 here but has
 * not run on a GPU in the session that wrote it (see docs/gpu.md); every
 * failure to build a plan falls back to the backend's own kernel.
 */
#include "attn_cudnn.h"
#include "kern_build.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#ifndef DITFARM_HAVE_CUDNN

struct cudnn_attn *attn_cudnn_open(cudaStream_t stream)
{
    (void)stream;
    return NULL;
}

void attn_cudnn_free(struct cudnn_attn *a)
{
    (void)a;
}

int attn_cudnn_takes(int D)
{
    (void)D;
    return 0;
}

int kern_cuda_cudnn_version(void)
{
    return 0;
}

int attn_cudnn_run(struct cudnn_attn *a, const void *q, const void *k, const void *v, void *o,
                   float *lse, int Sq, int Skv, int H, int D, float scale, struct df_err *err)
{
    (void)a, (void)q, (void)k, (void)v, (void)o, (void)lse, (void)Sq, (void)Skv, (void)H, (void)D;
    (void)scale;
    return df_err_set(err, DF_E_UNSUPPORTED, "kern_attention: built without cuDNN");
}

#else

#include <cudnn.h>

#define PLANS 16
enum { UID_Q = 1, UID_K, UID_V, UID_O, UID_STATS, UID_SCALE };

/* Descriptors made while building one plan, kept with it (the plan may refer
 * to its graph and engine config) and destroyed together. */
struct keep {
    cudnnBackendDescriptor_t d[24];
    int n;
};

struct sdpa_plan {
    int Sq, Skv, H, D, stats; /* key */
    int usable;               /* 0: cuDNN had no engine (fall back, do not retry) */
    cudnnStatus_t why;        /* the failure when !usable */
    cudnnBackendDescriptor_t plan;
    struct keep kept; /* tensors, op, graph, heuristics, engine configs */
    int64_t ws_bytes;
};

struct cudnn_attn {
    cudnnHandle_t h;
    struct sdpa_plan plans[PLANS];
    int n_plans, next;
    void *ws; /* grow-only workspace of the plans */
    size_t ws_bytes;
};

static int dnn_fail(struct df_err *err, int code, const char *what, cudnnStatus_t st)
{
    char msg[256] = "";
    cudnnGetLastErrorString(msg, sizeof msg);
    return df_err_set(err, code, "kern_attention (cuDNN): %s: %s%s%s", what,
                      cudnnGetErrorString(st), msg[0] ? ": " : "", msg);
}

int attn_cudnn_takes(int D)
{
    return D > 0 && D % 8 == 0 && D <= 256;
}

int kern_cuda_cudnn_version(void)
{
    return (int)cudnnGetVersion();
}

struct cudnn_attn *attn_cudnn_open(cudaStream_t stream)
{
    const char *pick = getenv("DITFARM_CUDA_ATTN");
    if (pick != NULL && strcmp(pick, "own") == 0)
        return NULL;
    if (cudnnGetVersion() < 91300) /* no SDPA_FWD node before 9.13 */
        return NULL;
    struct cudnn_attn *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    if (cudnnCreate(&a->h) != CUDNN_STATUS_SUCCESS) {
        free(a);
        return NULL;
    }
    if (cudnnSetStream(a->h, stream) != CUDNN_STATUS_SUCCESS) {
        cudnnDestroy(a->h);
        free(a);
        return NULL;
    }
    return a;
}

static void plan_drop(struct sdpa_plan *p);

void attn_cudnn_free(struct cudnn_attn *a)
{
    if (a == NULL)
        return;
    for (int i = 0; i < a->n_plans; i++)
        plan_drop(&a->plans[i]);
    cudaFree(a->ws);
    cudnnDestroy(a->h);
    free(a);
}

static cudnnStatus_t make(struct keep *kp, cudnnBackendDescriptorType_t type,
                          cudnnBackendDescriptor_t *out)
{
    *out = NULL;
    if (kp->n == (int)(sizeof kp->d / sizeof kp->d[0]))
        return CUDNN_STATUS_INTERNAL_ERROR;
    cudnnStatus_t st = cudnnBackendCreateDescriptor(type, out);
    if (st == CUDNN_STATUS_SUCCESS)
        kp->d[kp->n++] = *out;
    return st;
}

static void keep_free(struct keep *kp)
{
    while (kp->n > 0)
        cudnnBackendDestroyDescriptor(kp->d[--kp->n]);
}

#define SET(desc, name, type, count, ptr)                                                          \
    do {                                                                                           \
        if (st == CUDNN_STATUS_SUCCESS)                                                            \
            st = cudnnBackendSetAttribute((desc), (name), (type), (count), (ptr));                 \
    } while (0)

/* Destroy a plan and the descriptors it keeps. */
static void plan_drop(struct sdpa_plan *p)
{
    if (p->plan)
        cudnnBackendDestroyDescriptor(p->plan);
    p->plan = NULL;
    keep_free(&p->kept);
}

/* A finalized tensor descriptor [1, d1, d2, d3]. */
static cudnnStatus_t tensor(struct keep *kp, int64_t uid, cudnnDataType_t dt, const int64_t dims[4],
                            const int64_t strides[4], int by_value, cudnnBackendDescriptor_t *out)
{
    cudnnStatus_t st = make(kp, CUDNN_BACKEND_TENSOR_DESCRIPTOR, out);
    const int64_t align = 16;
    const bool virt = false, byv = by_value != 0;
    SET(*out, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt);
    SET(*out, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims);
    SET(*out, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides);
    SET(*out, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    SET(*out, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
    SET(*out, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt);
    if (by_value)
        SET(*out, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &byv);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendFinalize(*out);
    return st;
}

/* The operation graph of one SDPA node for the key of p. */
static cudnnStatus_t build_graph(struct cudnn_attn *a, const struct sdpa_plan *p, struct keep *kp,
                                 cudnnBackendDescriptor_t *graph)
{
    const int64_t H = p->H, D = p->D, Sq = p->Sq, Sk = p->Skv;
    const int64_t qd[4] = {1, H, Sq, D}, qs[4] = {Sq * H * D, D, H * D, 1};
    const int64_t kd[4] = {1, H, Sk, D}, ks[4] = {Sk * H * D, D, H * D, 1};
    const int64_t sd[4] = {1, H, Sq, 1}, ss[4] = {H * Sq, Sq, 1, 1};
    const int64_t one[4] = {1, 1, 1, 1};
    cudnnBackendDescriptor_t q, k, v, o, stats = NULL, scale, op;
    cudnnStatus_t st = tensor(kp, UID_Q, CUDNN_DATA_BFLOAT16, qd, qs, 0, &q);
    if (st == CUDNN_STATUS_SUCCESS)
        st = tensor(kp, UID_K, CUDNN_DATA_BFLOAT16, kd, ks, 0, &k);
    if (st == CUDNN_STATUS_SUCCESS)
        st = tensor(kp, UID_V, CUDNN_DATA_BFLOAT16, kd, ks, 0, &v);
    if (st == CUDNN_STATUS_SUCCESS)
        st = tensor(kp, UID_O, CUDNN_DATA_BFLOAT16, qd, qs, 0, &o);
    if (st == CUDNN_STATUS_SUCCESS && p->stats)
        st = tensor(kp, UID_STATS, CUDNN_DATA_FLOAT, sd, ss, 0, &stats);
    if (st == CUDNN_STATUS_SUCCESS)
        st = tensor(kp, UID_SCALE, CUDNN_DATA_FLOAT, one, one, 1, &scale);
    if (st == CUDNN_STATUS_SUCCESS)
        st = make(kp, CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR, &op);
    SET(op, CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &q);
    SET(op, CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &k);
    SET(op, CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &v);
    SET(op, CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &o);
    if (p->stats)
        SET(op, CUDNN_ATTR_OPERATION_SDPA_FWD_STATSDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &stats);
    SET(op, CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &scale);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendFinalize(op);
    if (st == CUDNN_STATUS_SUCCESS)
        st = make(kp, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, graph);
    SET(*graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &a->h);
    SET(*graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &op);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendFinalize(*graph);
    return st;
}

/* Heuristics over the graph; the first engine config that finalizes into an
 * execution plan wins.  *plan is NOT in kp (it outlives the build). */
static cudnnStatus_t pick_plan(struct cudnn_attn *a, cudnnBackendDescriptor_t graph,
                               struct keep *kp, cudnnBackendDescriptor_t *plan)
{
    cudnnBackendDescriptor_t heur;
    const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
    cudnnStatus_t st = make(kp, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur);
    SET(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
    SET(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendFinalize(heur);
    enum { MAX_CFGS = 8 };
    cudnnBackendDescriptor_t cfgs[MAX_CFGS];
    int64_t n_cfgs = 0;
    for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < MAX_CFGS; i++)
        st = make(kp, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfgs[i]);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, MAX_CFGS, &n_cfgs, cfgs);
    if (st != CUDNN_STATUS_SUCCESS)
        return st;
    st = CUDNN_STATUS_NOT_SUPPORTED;
    for (int64_t i = 0; i < n_cfgs && i < MAX_CFGS; i++) {
        cudnnBackendDescriptor_t pl;
        if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &pl) !=
            CUDNN_STATUS_SUCCESS)
            continue;
        st = CUDNN_STATUS_SUCCESS;
        SET(pl, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &a->h);
        SET(pl, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfgs[i]);
        if (st == CUDNN_STATUS_SUCCESS)
            st = cudnnBackendFinalize(pl);
        if (st == CUDNN_STATUS_SUCCESS) {
            *plan = pl;
            return st;
        }
        cudnnBackendDestroyDescriptor(pl);
    }
    return st;
}

/* The cached plan of this key, built on first use (usable = 0 and `why`
 * when cuDNN has no engine for it).  Never NULL. */
static struct sdpa_plan *plan_for(struct cudnn_attn *a, int Sq, int Skv, int H, int D, int stats)
{
    for (int i = 0; i < a->n_plans; i++) {
        struct sdpa_plan *p = &a->plans[i];
        if (p->Sq == Sq && p->Skv == Skv && p->H == H && p->D == D && p->stats == stats)
            return p;
    }
    int slot = a->n_plans < PLANS ? a->n_plans++ : a->next;
    a->next = (slot + 1) % PLANS;
    struct sdpa_plan *p = &a->plans[slot];
    plan_drop(p);
    *p = (struct sdpa_plan){.Sq = Sq, .Skv = Skv, .H = H, .D = D, .stats = stats};
    cudnnBackendDescriptor_t graph = NULL;
    cudnnStatus_t st = build_graph(a, p, &p->kept, &graph);
    if (st == CUDNN_STATUS_SUCCESS)
        st = pick_plan(a, graph, &p->kept, &p->plan);
    int64_t got = 0;
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendGetAttribute(p->plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                      CUDNN_TYPE_INT64, 1, &got, &p->ws_bytes);
    if (st != CUDNN_STATUS_SUCCESS) {
        p->why = st;
        plan_drop(p);
        return p; /* usable = 0: remembered */
    }
    p->usable = 1;
    return p;
}

static int reserve_ws(struct cudnn_attn *a, size_t bytes, struct df_err *err)
{
    if (bytes <= a->ws_bytes)
        return 0;
    cudaFree(a->ws); /* waits for queued work that may use it */
    a->ws = NULL;
    a->ws_bytes = 0;
    if (cudaMalloc(&a->ws, bytes) != cudaSuccess) {
        cudaGetLastError();
        return df_err_set(err, DF_E_NOMEM, "kern_attention (cuDNN): workspace of %zu bytes", bytes);
    }
    a->ws_bytes = bytes;
    return 0;
}

int attn_cudnn_run(struct cudnn_attn *a, const void *q, const void *k, const void *v, void *o,
                   float *lse, int Sq, int Skv, int H, int D, float scale, struct df_err *err)
{
    if (a == NULL || !attn_cudnn_takes(D))
        return df_err_set(err, DF_E_UNSUPPORTED, "kern_attention: cuDNN SDPA not used (D=%d)", D);
    struct sdpa_plan *p = plan_for(a, Sq, Skv, H, D, lse != NULL);
    if (!p->usable)
        return df_err_set(err, DF_E_UNSUPPORTED,
                          "kern_attention: cuDNN has no SDPA plan for Sq=%d Skv=%d H=%d D=%d: %s",
                          Sq, Skv, H, D, cudnnGetErrorString(p->why));
    DF_TRY(reserve_ws(a, (size_t)p->ws_bytes, err));
    int64_t uids[6] = {UID_Q, UID_K, UID_V, UID_O, UID_SCALE, UID_STATS};
    void *ptrs[6] = {(void *)q, (void *)k, (void *)v, o, &scale, lse};
    const int64_t n = lse != NULL ? 6 : 5;
    void *ws = a->ws;
    cudnnBackendDescriptor_t pack;
    cudnnStatus_t st = cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack);
    if (st != CUDNN_STATUS_SUCCESS)
        return dnn_fail(err, DF_E_INTERNAL, "variant pack", st);
    SET(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids);
    SET(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, ptrs);
    SET(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendFinalize(pack);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendExecute(a->h, p->plan, pack);
    cudnnBackendDestroyDescriptor(pack);
    if (st == CUDNN_STATUS_NOT_SUPPORTED || st == CUDNN_STATUS_BAD_PARAM) {
        /* refused before launching anything: our kernel takes this shape */
        p->usable = 0;
        p->why = st;
        plan_drop(p);
        return dnn_fail(err, DF_E_UNSUPPORTED, "execute refused", st);
    }
    if (st != CUDNN_STATUS_SUCCESS)
        return dnn_fail(err, DF_E_INTERNAL, "execute", st);
    return 0;
}

#endif /* DITFARM_HAVE_CUDNN */
