/* test_comm_self.c -- worker/comm/comm.c front end and the self backend (one rank):
 * every op, the layout groups, argument checks, names and options.  The MPI
 * backend runs on real ranks in tests/integration/comm_mpirun.sh and
 * comm_slurm.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "comm_check.h"
#include "comm_groups.h"

static comm_t open_self(void)
{
    struct df_err err = {0};
    comm_t c = NULL;
    int rc = comm_open(COMM_BACKEND_SELF, NULL, NULL, &c, &err);
    if (rc != 0)
        fail_msg("comm_open(self): %s", err.msg);
    return c;
}

static void test_selftest_passes(void **state)
{
    (void)state;
    comm_t c = open_self();
    struct df_err err = {0};
    assert_int_equal(comm_rank(c), 0);
    assert_int_equal(comm_size(c), 1);
    assert_string_equal(comm_name(c), "world");
    assert_int_equal(comm_backend_of(c), COMM_BACKEND_SELF);
    int rc = comm_selftest(c, 1, 1, 1, &err);
    if (rc != 0)
        fail_msg("selftest: %s", err.msg);
    comm_close(c);
}

static void test_ops_copy(void **state)
{
    (void)state;
    comm_t c = open_self();
    struct df_err err = {0};
    float a[4] = {1, 2, 3, 4}, b[4] = {0};
    assert_int_equal(comm_allreduce(c, a, b, 4, COMM_OP_SUM, &err), 0);
    assert_memory_equal(a, b, sizeof a);
    size_t cnt = 3, disp = 1;
    float r[5] = {0};
    assert_int_equal(comm_alltoallv(c, a, &cnt, &disp, r, &cnt, NULL, &err), 0);
    assert_true(r[0] == 2 && r[1] == 3 && r[2] == 4);
    memset(r, 0, sizeof r);
    size_t rd = 2;
    assert_int_equal(comm_allgatherv(c, a, 2, r, (size_t[]){2}, &rd, &err), 0);
    assert_true(r[2] == 1 && r[3] == 2 && r[0] == 0);
    comm_req_t rq;
    memset(r, 0, sizeof r);
    assert_int_equal(comm_sendrecv_start(c, a, 4, 0, r, 4, 0, &rq, &err), 0);
    assert_int_equal(comm_wait(rq, &err), 0);
    assert_memory_equal(a, r, sizeof a);
    assert_int_equal(comm_bcast(c, a, 4, 0, &err), 0);
    assert_int_equal(comm_barrier(c, &err), 0);
    uint64_t x = 42, y = 0;
    assert_int_equal(comm_allgather_bytes(c, &x, sizeof x, &y, &err), 0);
    assert_true(y == 42);
    assert_int_equal(comm_check_same(c, "abc", 3, &err), 0);
    comm_close(c);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    comm_t c = open_self();
    struct df_err err = {0};
    float a[2] = {0};
    assert_int_equal(comm_bcast(c, a, 2, 1, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "root 1"));
    comm_req_t rq;
    assert_int_equal(comm_sendrecv_start(c, a, 1, 2, a, 1, 0, &rq, &err), DF_E_INVAL);
    assert_null(rq);
    assert_int_equal(comm_allreduce(c, a, a, 2, COMM_OP_COUNT, &err), DF_E_INVAL);
    assert_int_equal(comm_allgatherv(c, a, 2, a, (size_t[]){1}, NULL, &err), DF_E_INVAL);
    comm_t s = NULL;
    assert_int_equal(comm_split(c, -1, 0, &s, &err), DF_E_INVAL);
    assert_null(s);
    /* Argument errors do not break the comm. */
    assert_false(comm_is_broken(c));
    assert_int_equal(comm_barrier(c, &err), 0);
    comm_close(c);
    comm_close(NULL);
}

static void test_groups(void **state)
{
    (void)state;
    comm_t c = open_self();
    struct df_err err = {0};
    struct comm_groups g;
    assert_int_equal(comm_groups_open(c, 1, 1, 1, &g, &err), 0);
    assert_string_equal(comm_name(g.ring), "ring");
    assert_string_equal(comm_name(g.ulysses), "ulysses");
    assert_string_equal(comm_name(g.cfg), "cfg");
    assert_string_equal(comm_name(g.sp), "sp");
    assert_int_equal(comm_size(g.ring), 1);
    comm_groups_close(&g);
    assert_int_equal(comm_groups_open(c, 2, 1, 1, &g, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "the world has 1"));
    assert_null(g.cfg);
    /* rank = cfg_idx*(u*r) + ring_idx*u + uly_idx */
    assert_int_equal(comm_groups_world_rank(1, 2, 3, 4, 3), 1 * 12 + 2 * 4 + 3);
    comm_close(c);
}

/* The registry: capabilities, the pick by memory space, typed buffers. */
static void test_registry(void **state)
{
    (void)state;
    struct df_err err = {0};
    for (int i = 0; i < COMM_BACKEND_COUNT; i++) {
        const struct comm_caps *cc = comm_backend_caps((enum comm_backend)i);
        assert_non_null(cc);
        assert_string_equal(cc->name, comm_backend_name((enum comm_backend)i));
        assert_true(cc->dtypes & (1u << COMM_DTYPE_BYTE)); /* every backend moves bytes */
    }
    assert_int_equal(comm_backend_caps(COMM_BACKEND_NCCL)->mem, COMM_MEM_DEVICE);
    enum comm_backend be;
    assert_int_equal(comm_backend_pick(COMM_MEM_HOST, 1, &be, &err), 0);
    assert_int_equal(be, COMM_BACKEND_SELF);
    assert_int_equal(comm_backend_pick(COMM_MEM_HOST, 4, &be, &err), 0);
    assert_int_equal(be, COMM_BACKEND_MPI);
    if (!comm_backend_available(COMM_BACKEND_NCCL))
        assert_int_equal(comm_backend_pick(COMM_MEM_DEVICE, 4, &be, &err), DF_E_UNSUPPORTED);
    assert_int_equal(comm_dtype_size(COMM_DTYPE_F32), 4);
    assert_string_equal(comm_dtype_name(COMM_DTYPE_BYTE), "byte");
    comm_t c = NULL;
    assert_int_equal(comm_open(COMM_BACKEND_SELF, NULL, NULL, &c, &err), 0);
    const float f[3] = {1, 2, 3};
    float g[3] = {0};
    assert_int_equal(comm_allgather(c, COMM_DTYPE_F32, f, 3, g, &err), 0);
    assert_memory_equal(f, g, sizeof f);
    const char blob[5] = "abcd";
    char back[5] = {0};
    assert_int_equal(comm_allgather(c, COMM_DTYPE_BYTE, blob, 5, back, &err), 0);
    assert_string_equal(back, "abcd");
    assert_int_equal(comm_allgather(c, COMM_DTYPE_COUNT, blob, 5, back, &err), DF_E_UNSUPPORTED);
    comm_close(c);
}

static void test_names_and_options(void **state)
{
    (void)state;
    struct df_err err = {0};
    enum comm_backend be;
    assert_int_equal(comm_backend_from_name("mpi", &be, &err), 0);
    assert_int_equal(be, COMM_BACKEND_MPI);
    assert_int_equal(comm_backend_from_name("gloo", &be, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "self, mpi, nccl"));
    assert_string_equal(comm_backend_name(COMM_BACKEND_NCCL), "nccl");
    assert_string_equal(comm_op_name(COMM_OP_MAX), "max");
    assert_true(comm_backend_available(COMM_BACKEND_SELF));
    struct comm_opts o = comm_opts_default();
    assert_true(o.timeout_s == 300.0);
    setenv("DITFARM_COMM_TIMEOUT", "2.5", 1);
    assert_int_equal(comm_opts_from_env(&o, &err), 0);
    assert_true(o.timeout_s == 2.5);
    setenv("DITFARM_COMM_TIMEOUT", "-1", 1);
    assert_int_equal(comm_opts_from_env(&o, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "DITFARM_COMM_TIMEOUT"));
    unsetenv("DITFARM_COMM_TIMEOUT");
    /* self refuses a multi-rank job */
    struct boot b = {0};
    b.info.size = 2;
    comm_t c = NULL;
    assert_int_equal(comm_open(COMM_BACKEND_SELF, &b, NULL, &c, &err), DF_E_INVAL);
    assert_null(c);
#ifndef DITFARM_HAVE_CUDA
    assert_int_equal(comm_open(COMM_BACKEND_NCCL, &b, NULL, &c, &err), DF_E_UNSUPPORTED);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selftest_passes),   cmocka_unit_test(test_ops_copy),
        cmocka_unit_test(test_bad_arguments),     cmocka_unit_test(test_groups),
        cmocka_unit_test(test_names_and_options), cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
