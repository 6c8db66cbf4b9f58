/* boot_pmix.c -- the PMIx bootstrap of a worker (see boot.h).
 *
 * Slurm's mpi/pmix plugin and Open MPI's mpirun both run a PMIx server that
 * knows the job: we only ask it.  Keys (docs/comm.md): PMIX_JOB_SIZE and
 * PMIX_LOCAL_SIZE on the wildcard rank, PMIX_LOCAL_RANK (uint16) and
 * PMIX_NODEID (uint32) on our own rank, PMIX_NUM_NODES on the wildcard rank.
 * Servers differ in what they provide, so the node keys fall back to Slurm's
 * environment and then to "one node". */
#include "boot.h"

#include <pmix.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOOT_MAGIC 0xb0075eedu

/* Any integer PMIx value as a long; returns 0 or -1 for a non-integer type. */
static int value_to_long(const pmix_value_t *v, long *out)
{
    switch (v->type) {
    case PMIX_UINT8:
        *out = v->data.uint8;
        return 0;
    case PMIX_UINT16:
        *out = v->data.uint16;
        return 0;
    case PMIX_UINT32:
        *out = (long)v->data.uint32;
        return 0;
    case PMIX_UINT64:
        *out = (long)v->data.uint64;
        return 0;
    case PMIX_INT8:
        *out = v->data.int8;
        return 0;
    case PMIX_INT16:
        *out = v->data.int16;
        return 0;
    case PMIX_INT32:
        *out = v->data.int32;
        return 0;
    case PMIX_INT64:
        *out = (long)v->data.int64;
        return 0;
    case PMIX_INT:
        *out = v->data.integer;
        return 0;
    case PMIX_UINT:
        *out = (long)v->data.uint;
        return 0;
    case PMIX_SIZE:
        *out = (long)v->data.size;
        return 0;
    case PMIX_PROC_RANK:
        *out = (long)v->data.rank;
        return 0;
    default:
        return -1;
    }
}

/* Integer key of `proc_rank` (PMIX_RANK_WILDCARD for job-level keys).
 * Returns 0 and *out, or -1 when the server does not provide the key. */
static int get_int(const char *nspace, pmix_rank_t proc_rank, const char *key, long *out)
{
    pmix_proc_t p;
    PMIX_PROC_CONSTRUCT(&p);
    PMIX_LOAD_PROCID(&p, nspace, proc_rank);
    pmix_value_t *v = NULL;
    if (PMIx_Get(&p, key, NULL, 0, &v) != PMIX_SUCCESS || v == NULL)
        return -1;
    int rc = value_to_long(v, out);
    PMIX_VALUE_RELEASE(v);
    return rc;
}

static long env_long(const char *name, long dflt)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return dflt;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    return (end != s && *end == '\0') ? v : dflt;
}

static int fill_from_server(struct boot *b, const pmix_proc_t *me, struct df_err *err)
{
    struct boot_info *in = &b->info;
    long v = 0;
    snprintf(in->nspace, sizeof in->nspace, "%s", me->nspace);
    in->rank = (int)me->rank;
    if (get_int(me->nspace, PMIX_RANK_WILDCARD, PMIX_JOB_SIZE, &v) < 0)
        return df_err_set(err, DF_E_COMM, "boot: PMIx server of nspace %s gives no %s", me->nspace,
                          PMIX_JOB_SIZE);
    in->size = (int)v;
    DF_FAIL_IF(in->size < 1 || in->rank >= in->size, err, DF_E_COMM,
               "boot: PMIx says rank %d of %d (nspace %s)", in->rank, in->size, me->nspace);
    in->local_size = get_int(me->nspace, PMIX_RANK_WILDCARD, PMIX_LOCAL_SIZE, &v) == 0
                         ? (int)v
                         : (int)env_long("SLURM_NTASKS_PER_NODE", in->size);
    in->local_rank = get_int(me->nspace, me->rank, PMIX_LOCAL_RANK, &v) == 0
                         ? (int)v
                         : (int)env_long("SLURM_LOCALID", in->rank);
    in->node_id = get_int(me->nspace, me->rank, PMIX_NODEID, &v) == 0
                      ? (int)v
                      : (int)env_long("SLURM_NODEID", 0);
    in->n_nodes = get_int(me->nspace, PMIX_RANK_WILDCARD, PMIX_NUM_NODES, &v) == 0
                      ? (int)v
                      : (int)env_long("SLURM_NNODES", 1);
    DF_FAIL_IF(in->local_rank < 0 || in->local_rank >= in->local_size || in->node_id < 0 ||
                   in->node_id >= in->n_nodes,
               err, DF_E_COMM,
               "boot: inconsistent layout from PMIx: local rank %d of %d, node %d of %d "
               "(rank %d, nspace %s)",
               in->local_rank, in->local_size, in->node_id, in->n_nodes, in->rank, in->nspace);
    return 0;
}

int boot_init(struct boot *b, struct df_err *err)
{
    memset(b, 0, sizeof *b);
    pmix_proc_t me;
    PMIX_PROC_CONSTRUCT(&me);
    pmix_status_t st = PMIx_Init(&me, NULL, 0);
    if (st == PMIX_ERR_UNREACH) {
        /* A plain process: PMIx made us a singleton, but Slurm may have started
         * several of us without a PMIx server (srun without --mpi=pmix). */
        long ntasks = env_long("SLURM_NTASKS", 1);
        if (ntasks > 1) {
            PMIx_Finalize(NULL, 0);
            return df_err_set(err, DF_E_COMM,
                              "boot: SLURM_NTASKS=%ld but no PMIx server answered: each of the "
                              "%ld tasks would think it is rank 0 of 1; start the worker with "
                              "`srun --mpi=pmix` (or set MpiDefault=pmix in slurm.conf)",
                              ntasks, ntasks);
        }
        b->pmix_up = 1;
        b->info = (struct boot_info){.rank = 0,
                                     .size = 1,
                                     .local_rank = 0,
                                     .local_size = 1,
                                     .node_id = 0,
                                     .n_nodes = 1,
                                     .singleton = 1};
        snprintf(b->info.nspace, sizeof b->info.nspace, "%s", me.nspace);
        b->magic = BOOT_MAGIC;
        return 0;
    }
    if (st != PMIX_SUCCESS)
        return df_err_set(err, DF_E_COMM, "boot: PMIx_Init failed: %s", PMIx_Error_string(st));
    b->pmix_up = 1;
    int rc = fill_from_server(b, &me, err);
    if (rc < 0) {
        PMIx_Finalize(NULL, 0);
        memset(b, 0, sizeof *b);
        return rc;
    }
    b->magic = BOOT_MAGIC;
    return 0;
}

void boot_fini(struct boot *b)
{
    if (b == NULL || b->magic != BOOT_MAGIC)
        return;
    if (b->pmix_up)
        PMIx_Finalize(NULL, 0);
    memset(b, 0, sizeof *b);
}

int boot_key(char key[BOOT_KEY_CAP], const char *what, unsigned a, unsigned b, struct df_err *err)
{
    int n = snprintf(key, BOOT_KEY_CAP, "df.%s.%u.%u", what, a, b);
    DF_FAIL_IF(n < 0 || n >= BOOT_KEY_CAP || n > PMIX_MAX_KEYLEN, err, DF_E_RANGE,
               "boot: key for '%s' longer than %d characters", what, PMIX_MAX_KEYLEN);
    return 0;
}

int boot_put(struct boot *b, const char *key, const void *data, size_t n, struct df_err *err)
{
    DF_FAIL_IF(b == NULL || b->magic != BOOT_MAGIC, err, DF_E_INVAL, "boot_put: not initialised");
    pmix_value_t v;
    PMIX_VALUE_CONSTRUCT(&v);
    v.type = PMIX_BYTE_OBJECT;
    v.data.bo.bytes = (char *)data; /* PMIx_Put copies; we never free it */
    v.data.bo.size = n;
    pmix_status_t st = PMIx_Put(PMIX_GLOBAL, key, &v);
    if (st == PMIX_SUCCESS)
        st = PMIx_Commit();
    DF_FAIL_IF(st != PMIX_SUCCESS, err, DF_E_COMM, "boot: put of key %s by rank %d: %s", key,
               b->info.rank, PMIx_Error_string(st));
    return 0;
}

int boot_fence(struct boot *b, const int *ranks, int n, struct df_err *err)
{
    DF_FAIL_IF(b == NULL || b->magic != BOOT_MAGIC, err, DF_E_INVAL, "boot_fence: not initialised");
    if (b->info.singleton)
        return 0;
    pmix_proc_t *procs = NULL;
    size_t nprocs = 1;
    if (ranks == NULL || n <= 0) {
        PMIX_PROC_CREATE(procs, 1);
        PMIX_LOAD_PROCID(&procs[0], b->info.nspace, PMIX_RANK_WILDCARD);
    } else {
        nprocs = (size_t)n;
        PMIX_PROC_CREATE(procs, nprocs);
        for (int i = 0; i < n; i++)
            PMIX_LOAD_PROCID(&procs[i], b->info.nspace, (pmix_rank_t)ranks[i]);
    }
    DF_FAIL_IF(procs == NULL, err, DF_E_NOMEM, "boot: fence of %zu ranks: out of memory", nprocs);
    pmix_info_t info;
    bool collect = true;
    PMIX_INFO_CONSTRUCT(&info);
    PMIX_INFO_LOAD(&info, PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
    pmix_status_t st = PMIx_Fence(procs, nprocs, &info, 1);
    PMIX_INFO_DESTRUCT(&info);
    PMIX_PROC_FREE(procs, nprocs);
    DF_FAIL_IF(st != PMIX_SUCCESS, err, DF_E_COMM, "boot: fence over %zu ranks (rank %d): %s",
               ranks == NULL ? (size_t)b->info.size : nprocs, b->info.rank, PMIx_Error_string(st));
    return 0;
}

int boot_get(struct boot *b, int rank, const char *key, void *buf, size_t cap, size_t *n_out,
             struct df_err *err)
{
    DF_FAIL_IF(b == NULL || b->magic != BOOT_MAGIC, err, DF_E_INVAL, "boot_get: not initialised");
    DF_FAIL_IF(rank < 0 || rank >= b->info.size, err, DF_E_INVAL,
               "boot: get of key %s from rank %d of %d", key, rank, b->info.size);
    pmix_proc_t p;
    PMIX_PROC_CONSTRUCT(&p);
    PMIX_LOAD_PROCID(&p, b->info.nspace, (pmix_rank_t)rank);
    /* PMIX_OPTIONAL would be the natural flag after a fence, but Slurm's server
     * then answers "not found" even for collected data: a missing key instead
     * costs the server's short direct-modex timeout. */
    pmix_value_t *v = NULL;
    pmix_status_t st = PMIx_Get(&p, key, NULL, 0, &v);
    if (st == PMIX_ERR_NOT_FOUND || st == PMIX_ERR_PROC_ENTRY_NOT_FOUND || st == PMIX_ERR_TIMEOUT)
        return df_err_set(err, DF_E_NOTFOUND, "boot: rank %d has no key %s", rank, key);
    DF_FAIL_IF(st != PMIX_SUCCESS || v == NULL, err, DF_E_COMM,
               "boot: get of key %s from rank %d (by rank %d): %s", key, rank, b->info.rank,
               PMIx_Error_string(st));
    int rc = 0;
    if (v->type != PMIX_BYTE_OBJECT)
        rc = df_err_set(err, DF_E_COMM, "boot: key %s of rank %d is not a byte object", key, rank);
    else if (v->data.bo.size > cap)
        rc = df_err_set(err, DF_E_RANGE, "boot: key %s of rank %d holds %zu bytes, room for %zu",
                        key, rank, v->data.bo.size, cap);
    else {
        memcpy(buf, v->data.bo.bytes, v->data.bo.size);
        if (n_out != NULL)
            *n_out = v->data.bo.size;
    }
    PMIX_VALUE_RELEASE(v);
    return rc;
}
