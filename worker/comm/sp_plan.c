/* sp_plan.c -- Ulysses packing maps, the ring plan and its checker, NCCL
 * communicator ids (sp_plan.h).  Plain C: no CUDA, no MPI. */
#include "sp_plan.h"

#include <stdlib.h>
#include <string.h>

static int check_uly(int U, int64_t chunk, int H, int D, int64_t s_local, struct df_err *err)
{
    DF_FAIL_IF(U < 1 || chunk < 1 || H < 1 || D < 1, err, DF_E_INVAL,
               "Ulysses map: bad sizes (ulysses %d, chunk %lld, heads %d, head_dim %d)", U,
               (long long)chunk, H, D);
    DF_FAIL_IF(H % U != 0, err, DF_E_INVAL, "Ulysses map: %d heads do not split over %d ranks", H,
               U);
    DF_FAIL_IF(s_local < 0 || s_local > chunk, err, DF_E_INVAL,
               "Ulysses map: %lld local tokens outside [0, chunk %lld]", (long long)s_local,
               (long long)chunk);
    return 0;
}

int sp_ulysses_pack_map(int U, int64_t chunk, int H, int D, int64_t s_local, struct sp_copy *out,
                        int *n, struct df_err *err)
{
    DF_TRY(check_uly(U, chunk, H, D, s_local, err));
    const size_t hl = (size_t)(H / U) * (size_t)D, row = (size_t)H * (size_t)D;
    int k = 0;
    for (int j = 0; j < U; j++) {
        const size_t block = (size_t)j * (size_t)chunk * hl;
        if (s_local > 0)
            out[k++] = (struct sp_copy){.src_off = (size_t)j * hl, .src_ld = row,
                                        .dst_off = block, .dst_ld = hl,
                                        .rows = (size_t)s_local, .cols = hl};
        if (s_local < chunk)
            out[k++] = (struct sp_copy){.dst_off = block + (size_t)s_local * hl, .dst_ld = hl,
                                        .rows = (size_t)(chunk - s_local), .cols = hl,
                                        .zero = 1};
    }
    *n = k;
    return 0;
}

int sp_ulysses_unpack_map(int U, int64_t chunk, int H, int D, int64_t s_local, struct sp_copy *out,
                          int *n, struct df_err *err)
{
    DF_TRY(check_uly(U, chunk, H, D, s_local, err));
    const size_t hl = (size_t)(H / U) * (size_t)D, row = (size_t)H * (size_t)D;
    int k = 0;
    for (int j = 0; j < U && s_local > 0; j++)
        out[k++] = (struct sp_copy){.src_off = (size_t)j * (size_t)chunk * hl, .src_ld = hl,
                                    .dst_off = (size_t)j * hl, .dst_ld = row,
                                    .rows = (size_t)s_local, .cols = hl};
    *n = k;
    return 0;
}

void sp_copy_apply(float *dst, const float *src, const struct sp_copy *c)
{
    for (size_t r = 0; r < c->rows; r++) {
        float *d = dst + c->dst_off + r * c->dst_ld;
        if (c->zero)
            memset(d, 0, c->cols * sizeof *d);
        else
            memcpy(d, src + c->src_off + r * c->src_ld, c->cols * sizeof *d);
    }
}

int sp_copy_on(kern_backend_t be, float *dst, const float *src, const struct sp_copy *c,
               struct df_err *err)
{
    if (c->rows == 0 || c->cols == 0)
        return 0;
    if (!c->zero)
        return kern_copy_2d(be, dst + c->dst_off, c->dst_ld, src + c->src_off, c->src_ld, c->rows,
                            c->cols, err);
    if (c->dst_ld == c->cols) /* one contiguous run */
        return kern_zero(be, dst + c->dst_off, c->rows * c->cols, err);
    for (size_t r = 0; r < c->rows; r++)
        DF_TRY(kern_zero(be, dst + c->dst_off + r * c->dst_ld, c->cols, err));
    return 0;
}

int sp_ring_plan(int ring, int ring_idx, struct sp_ring_step *steps, struct df_err *err)
{
    DF_FAIL_IF(ring < 1 || ring_idx < 0 || ring_idx >= ring, err, DF_E_INVAL,
               "ring plan: rank %d of a ring of %d", ring_idx, ring);
    for (int s = 0; s < ring; s++)
        steps[s] = (struct sp_ring_step){
            .block = (ring_idx - s + ring) % ring,
            .buf = s & 1,
            .sends = s < ring - 1,
            /* the recv overwrites 1 - buf, last read by step s-1 (compute op s);
             * at s = 0 it forwards buffer 0, written by the prologue (op 0) */
            .comm_after_compute = s + 1,
            /* buf was received by step s-1's comm op (op s-1) */
            .compute_after_comm = s,
        };
    return 0;
}

/* ---- the checker ----------------------------------------------------------- */

enum { STREAM_COMPUTE, STREAM_COMM };
#define CHECK_LAYERS 2
#define CHECK_MAX_RING 64
#define CHECK_MAX_OPS (CHECK_LAYERS * 2 * (CHECK_MAX_RING + 1))

struct op {
    int stream, layer, index; /* index within its stream and layer */
    int reads, writes;        /* bit b: buffer b */
    int n_deps;
    int deps[3]; /* ops that must complete first (beyond stream order) */
};

struct sim {
    struct op ops[CHECK_MAX_OPS];
    int n;
    int compute_ops[CHECK_LAYERS][CHECK_MAX_RING + 1]; /* global op ids */
    int comm_ops[CHECK_LAYERS][CHECK_MAX_RING];
    unsigned char before[CHECK_MAX_OPS][CHECK_MAX_OPS]; /* transitive happens-before */
};

static int add_op(struct sim *m, int stream, int layer, int index, int reads, int writes)
{
    m->ops[m->n] = (struct op){.stream = stream, .layer = layer, .index = index, .reads = reads,
                               .writes = writes};
    return m->n++;
}

/* Ops in issue order (the order the host queues them), which is also a
 * topological order of every dependency.  A wait on an op not issued yet
 * would never be satisfied: DF_E_INVAL (deadlock). */
static int build_ops(struct sim *m, const struct sp_ring_step *st, int ring, struct df_err *err)
{
    m->n = 0;
    int last_compute = -1, last_comm = -1;
    for (int l = 0; l < CHECK_LAYERS; l++) {
        /* prologue: the scatter writes buffer 0 */
        int p = add_op(m, STREAM_COMPUTE, l, 0, 0, 1);
        m->compute_ops[l][0] = p;
        if (last_compute >= 0)
            m->ops[p].deps[m->ops[p].n_deps++] = last_compute;
        last_compute = p;
        int n_comm = 0;
        for (int s = 0; s < ring; s++) {
            if (st[s].sends) {
                int k = st[s].comm_after_compute;
                DF_FAIL_IF(k > s + 1, err, DF_E_INVAL,
                           "ring plan: step %d's send/recv waits for compute op %d, which is "
                           "queued after it (deadlock)", s, k - 1);
                int c = add_op(m, STREAM_COMM, l, n_comm, 1 << st[s].buf, 1 << (1 - st[s].buf));
                struct op *o = &m->ops[c];
                if (last_comm >= 0)
                    o->deps[o->n_deps++] = last_comm;
                if (k > 0)
                    o->deps[o->n_deps++] = m->compute_ops[l][k - 1];
                m->comm_ops[l][n_comm++] = c;
                last_comm = c;
            }
            int k = st[s].compute_after_comm;
            DF_FAIL_IF(k > n_comm, err, DF_E_INVAL,
                       "ring plan: step %d's attention waits for comm op %d, which is never "
                       "queued before it (deadlock)", s, k - 1);
            int a = add_op(m, STREAM_COMPUTE, l, s + 1, 1 << st[s].buf, 0);
            struct op *o = &m->ops[a];
            o->deps[o->n_deps++] = last_compute;
            if (k > 0)
                o->deps[o->n_deps++] = m->comm_ops[l][k - 1];
            m->compute_ops[l][s + 1] = a;
            last_compute = a;
        }
    }
    return 0;
}

static void closure(struct sim *m)
{
    memset(m->before, 0, sizeof m->before);
    for (int i = 0; i < m->n; i++)
        for (int d = 0; d < m->ops[i].n_deps; d++) {
            int j = m->ops[i].deps[d];
            m->before[j][i] = 1;
            for (int k = 0; k < m->n; k++)
                if (m->before[k][j])
                    m->before[k][i] = 1;
        }
}

static const char *stream_name(int s)
{
    return s == STREAM_COMPUTE ? "compute" : "comm";
}

int sp_ring_plan_check(const struct sp_ring_step *steps, int ring, struct df_err *err)
{
    DF_FAIL_IF(ring < 1 || ring > CHECK_MAX_RING, err, DF_E_INVAL,
               "ring plan check: ring of %d (1..%d)", ring, CHECK_MAX_RING);
    for (int s = 0; s < ring; s++)
        DF_FAIL_IF(steps[s].buf < 0 || steps[s].buf > 1 || steps[s].comm_after_compute < 0 ||
                       steps[s].compute_after_comm < 0,
                   err, DF_E_INVAL, "ring plan check: step %d has a bad buffer or wait", s);
    struct sim *m = malloc(sizeof *m); /* ~70 KB of flags: off the stack */
    DF_FAIL_IF(m == NULL, err, DF_E_NOMEM, "ring plan check: out of memory");
    int rc = build_ops(m, steps, ring, err);
    if (rc == 0)
        closure(m);
    for (int i = 0; rc == 0 && i < m->n; i++)
        for (int j = i + 1; rc == 0 && j < m->n; j++) {
            const struct op *a = &m->ops[i], *b = &m->ops[j];
            int clash = (a->writes & (b->reads | b->writes)) | (b->writes & a->reads);
            if (!clash || m->before[i][j] || m->before[j][i])
                continue;
            rc = df_err_set(err, DF_E_INVAL,
                            "ring plan: layer %d %s op %d and layer %d %s op %d both touch K/V "
                            "buffer %d (one writes) with no event between them",
                            a->layer, stream_name(a->stream), a->index, b->layer,
                            stream_name(b->stream), b->index, clash & 1 ? 0 : 1);
        }
    free(m);
    return rc;
}

/* murmur3's 32-bit finalizer: a bijection that spreads every input bit. */
static unsigned fmix32(unsigned h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

unsigned sp_nccl_comm_id(unsigned parent_id, unsigned nsplit, int color)
{
    /* Chained bijections: for one parent and split, distinct colors give
     * distinct values before the final | 1 (which keeps ids odd, never 0,
     * and could merge a pair only with odds 2^-31).  The former hash-combine
     * with | 1 gave colors 0 and 1 the same id (tests/test_gpu_host.c). */
    unsigned h = fmix32(parent_id);
    h = fmix32(h ^ nsplit);
    h = fmix32(h ^ (unsigned)color);
    return h | 1u;
}
