/* cmd_selftest_comm.c -- `ditfarm-worker selftest-comm`: bootstrap through PMIx,
 * open a comm and run comm_selftest on the world and the groups of a layout.
 * The multi-rank integration tests run it under mpirun and srun.
 *
 *   srun -n 4 --mpi=pmix ditfarm-worker selftest-comm --cfg 2 --ulysses 2 --ring 1
 *   mpirun -n 6 ditfarm-worker selftest-comm --ulysses 3 --ring 2
 *
 * Checks the PMIx exchange (boot_put/fence/get, also a fence over a subset of
 * ranks, as the nccl backend uses them) before the comm.  Prints one
 * "boot ..." line and one "selftest-comm ok ..." line per rank on stdout.  Failure drills, after
 * the comm is open:
 *   --die-rank K    rank K exits at once (code 9).  Under srun Slurm's pmix
 *                   plugin sees the early exit and cancels the whole step;
 *                   mpirun aborts the job likewise.
 *   --stall-rank K  rank K stops taking part (sleeps, up to 120 s), as a hung
 *                   GPU would: the others time out (DITFARM_COMM_TIMEOUT) and
 *                   exit with WORKER_EXIT_RETRY; `srun --kill-on-bad-exit=1` or
 *                   mpirun then ends the stalled rank. */
#include "cmd_boot.h"
#include "comm.h"
#include "comm_check.h"
#include "log.h"
#include "worker_exit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct selftest_args {
    int cfg, ulysses, ring; /* 0 = default */
    int die_rank;           /* -1 = none */
    int stall_rank;         /* -1 = none */
    const char *backend;    /* NULL = self for one rank, else mpi */
};

static int parse_int(const char *opt, const char *s, int *out)
{
    char *end = NULL;
    long v = s ? strtol(s, &end, 10) : 0;
    if (s == NULL || end == s || *end != '\0' || v < 0 || v > 1 << 20) {
        fprintf(stderr, "ditfarm-worker selftest-comm: %s wants a number, got '%s'\n", opt,
                s ? s : "");
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct selftest_args *a)
{
    *a = (struct selftest_args){0, 0, 0, -1, -1, NULL};
    /* Every option takes one value: step over pairs. */
    for (int i = 1; i < argc; i += 2) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(o, "--cfg") == 0)
            rc = parse_int(o, v, &a->cfg);
        else if (strcmp(o, "--ulysses") == 0)
            rc = parse_int(o, v, &a->ulysses);
        else if (strcmp(o, "--ring") == 0)
            rc = parse_int(o, v, &a->ring);
        else if (strcmp(o, "--die-rank") == 0)
            rc = parse_int(o, v, &a->die_rank);
        else if (strcmp(o, "--stall-rank") == 0)
            rc = parse_int(o, v, &a->stall_rank);
        else if (strcmp(o, "--backend") == 0 && v != NULL)
            a->backend = v;
        else {
            fprintf(stderr, "usage: ditfarm-worker selftest-comm [--backend self|mpi] [--cfg C] "
                            "[--ulysses U] [--ring R] [--die-rank K] [--stall-rank K]\n");
            return -1;
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* The PMIx exchange the nccl backend relies on: every rank puts a blob, a
 * fence over all ranks, everyone reads everyone; then the same within the
 * even and the odd ranks separately (a fence over a subset, as a split does). */
static int boot_exchange_check(struct boot *b, struct df_err *err)
{
    int me = b->info.rank, n = b->info.size;
    char key[BOOT_KEY_CAP];
    for (int round = 0; round < 2; round++) {
        int *set = malloc((size_t)n * sizeof *set), k = 0;
        DF_FAIL_IF(set == NULL, err, DF_E_NOMEM, "boot check: out of memory");
        for (int r = 0; r < n; r++)
            if (round == 0 || r % 2 == me % 2)
                set[k++] = r;
        int rc = boot_key(key, "check", (unsigned)round, round == 0 ? 0u : (unsigned)(me % 2), err);
        int val = 1000 * round + me;
        if (rc == 0)
            rc = boot_put(b, key, &val, sizeof val, err);
        if (rc == 0)
            rc = boot_fence(b, round == 0 ? NULL : set, round == 0 ? 0 : k, err);
        for (int i = 0; rc == 0 && i < k; i++) {
            int got = -1;
            size_t len = 0;
            rc = boot_get(b, set[i], key, &got, sizeof got, &len, err);
            if (rc == 0 && (len != sizeof got || got != 1000 * round + set[i]))
                rc = df_err_set(err, DF_E_COMM,
                                "boot check: rank %d read %d (%zu bytes) from rank %d, want %d", me,
                                got, len, set[i], 1000 * round + set[i]);
        }
        free(set);
        DF_TRY(rc);
    }
    return 0;
}

/* Missing factors: cfg and ring default to 1, ulysses takes what is left. */
static void fill_layout(struct selftest_args *a, int size)
{
    if (a->cfg == 0)
        a->cfg = 1;
    if (a->ring == 0)
        a->ring = 1;
    if (a->ulysses == 0)
        a->ulysses = size / (a->cfg * a->ring) > 0 ? size / (a->cfg * a->ring) : 1;
}

int cmd_selftest_comm(int argc, char **argv, struct df_log *log)
{
    struct selftest_args a;
    if (parse_args(argc, argv, &a) < 0)
        return WORKER_EXIT_USAGE;
    struct df_err err = {0};
    struct boot b;
    if (cmd_boot(&b, log) < 0)
        return WORKER_EXIT_FAILED;
    const struct boot_info *in = &b.info;
    printf("boot rank=%d size=%d local_rank=%d local_size=%d node=%d n_nodes=%d singleton=%d "
           "nspace=%s\n",
           in->rank, in->size, in->local_rank, in->local_size, in->node_id, in->n_nodes,
           in->singleton, in->nspace);
    fflush(stdout);

    if (boot_exchange_check(&b, &err) < 0) {
        DF_ERROR(log, "%s", err.msg);
        boot_fini(&b);
        return WORKER_EXIT_FAILED;
    }

    enum comm_backend be = in->size == 1 ? COMM_BACKEND_SELF : COMM_BACKEND_MPI;
    struct comm_opts opts = comm_opts_default();
    comm_t world = NULL;
    int rc = 0;
    if ((a.backend != NULL && (rc = comm_backend_from_name(a.backend, &be, &err)) < 0) ||
        (rc = comm_opts_from_env(&opts, &err)) < 0 ||
        (rc = comm_open(be, &b, &opts, &world, &err)) < 0)
        goto out;
    if (a.die_rank == in->rank) {
        fprintf(stderr, "rank %d: exiting abruptly (--die-rank)\n", in->rank);
        fflush(NULL);
        _exit(9);
    }
    if (a.stall_rank == in->rank) {
        fprintf(stderr, "rank %d: stalling (--stall-rank)\n", in->rank);
        fflush(NULL);
        for (int i = 0; i < 120; i++)
            sleep(1);
        _exit(9);
    }
    fill_layout(&a, in->size);
    int layout[3] = {a.cfg, a.ulysses, a.ring};
    if ((rc = comm_check_same(world, layout, sizeof layout, &err)) < 0) {
        if (rc == DF_E_INVAL)
            df_err_prefix(&err, "selftest-comm: the ranks were given different layouts");
        goto out;
    }
    if ((rc = comm_selftest(world, a.cfg, a.ulysses, a.ring, &err)) < 0)
        goto out;
    printf("selftest-comm ok rank=%d size=%d backend=%s layout=cfg%d.u%d.r%d\n", in->rank, in->size,
           comm_backend_name(be), a.cfg, a.ulysses, a.ring);
    fflush(stdout);
out:
    if (rc < 0)
        DF_ERROR(log, "%s", err.msg);
    comm_close(world);
    boot_fini(&b);
    if (rc == DF_E_TIMEOUT || rc == DF_E_COMM)
        return WORKER_EXIT_RETRY;
    return rc < 0 ? WORKER_EXIT_FAILED : WORKER_EXIT_DONE;
}
