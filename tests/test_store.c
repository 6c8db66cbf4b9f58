/* test_store.c -- daemon/store.c (SQLite store: schema, shots, events, nodes)
 * and the shot state machine of daemon/job.c it persists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job.h"
#include "progress.h"
#include "progress_file.h"
#include "store.h"

struct fx {
    char dir[64];
    char db[128];
    store_t *st;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/df-test-store.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/ditfarmd.db", f->dir);
    struct df_err err = {0};
    assert_int_equal(store_open(f->db, &f->st, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void new_shot(struct fx *f, int64_t mrow, const char *id, const char *deps,
                     struct job_shot *s)
{
    memset(s, 0, sizeof(*s));
    s->manifest_row = mrow;
    snprintf(s->manifest, sizeof(s->manifest), "m");
    snprintf(s->shot, sizeof(s->shot), "%s", id);
    snprintf(s->job_dir, sizeof(s->job_dir), "%s/jobs/m/%s", f->dir, id);
    snprintf(s->deps, sizeof(s->deps), "%s", deps);
    job_on_intake(s, 1000);
    struct df_err err = {0};
    assert_int_equal(store_shot_add(f->st, s, &err), 0);
    assert_true(s->row > 0);
}

static void test_schema_wal_and_versions(void **state)
{
    struct fx *f = *state;
    assert_int_equal(store_schema_version(f->st), STORE_SCHEMA_VERSION);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    /* a file from a newer ditfarmd is refused, not misread */
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    store_close(f->st);
    f->st = NULL;
    struct df_err err = {0};
    store_t *st = NULL;
    assert_int_equal(store_open(f->db, &st, &err), DF_E_CORRUPT);
    assert_null(st);
    assert_non_null(strstr(err.msg, "schema version 99"));
    /* not a database at all */
    char junk[160];
    snprintf(junk, sizeof(junk), "%s/junk.db", f->dir);
    FILE *j = fopen(junk, "w");
    fputs("this is not an SQLite file, but long enough to have a header.............\n", j);
    fclose(j);
    assert_true(store_open(junk, &st, &err) < 0);
    assert_null(st);
    assert_non_null(strstr(err.msg, "junk.db"));
    /* reopen a fresh store for teardown */
    assert_int_equal(unlink(f->db), 0);
    assert_int_equal(store_open(f->db, &f->st, &err), 0);
}

static void test_shot_lifecycle_persists(void **state)
{
    struct fx *f = *state;
    struct df_err err = {0};
    int64_t mrow;
    assert_int_equal(
        store_manifest_add(f->st, "m", "/x/m.yaml", "{\"name\":\"m\"}", "{}", 1000, &mrow, &err),
        0);
    struct job_shot a, b;
    new_shot(f, mrow, "a", "", &a);
    new_shot(f, mrow, "b", "a", &b);
    assert_int_equal(a.state, JOB_STATE_QUEUED);
    assert_int_equal(b.state, JOB_STATE_WAITING);
    assert_int_equal(store_manifest_active(f->st, "m", &err), 2);

    /* queued -> submitted -> running -> done */
    enum job_state from = a.state;
    assert_int_equal(job_on_submitted(&a, "17", 1001), JOB_EVENT_SUBMITTED);
    assert_int_equal(store_shot_save(f->st, &a, from, &err), 0);
    from = a.state;
    assert_int_equal(job_on_slurm_state(&a, "RUNNING", 1002), JOB_EVENT_RUNNING);
    assert_int_equal(store_shot_save(f->st, &a, from, &err), 0);
    /* a second save from a state it no longer has is refused */
    assert_int_equal(store_shot_save(f->st, &a, JOB_STATE_SUBMITTED, &err), DF_E_NOTFOUND);
    struct job_end end = {.done = 1};
    snprintf(end.output, sizeof(end.output), "/out/a.mp4");
    from = a.state;
    assert_int_equal(job_on_job_end(&a, &end, "COMPLETED", 3, 1003), JOB_EVENT_DONE);
    assert_int_equal(store_shot_save(f->st, &a, from, &err), 0);

    /* a transition the diagram does not have is refused before SQL */
    struct job_shot bad = a;
    bad.state = JOB_STATE_RUNNING;
    assert_int_equal(store_shot_save(f->st, &bad, JOB_STATE_DONE, &err), DF_E_INTERNAL);
    assert_non_null(strstr(err.msg, "done -> running"));

    /* waiting -> queued once a is done; everything survives a reopen */
    from = b.state;
    job_on_deps(&b, 1, 1, NULL, 1004);
    assert_int_equal(b.state, JOB_STATE_QUEUED);
    assert_int_equal(store_shot_save(f->st, &b, from, &err), 0);
    store_close(f->st);
    assert_int_equal(store_open(f->db, &f->st, &err), 0);
    struct job_shot *list = NULL;
    size_t n = 0;
    assert_int_equal(store_shots_list(f->st, STORE_ALL, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].shot, "a");
    assert_int_equal(list[0].state, JOB_STATE_DONE);
    assert_string_equal(list[0].job_id, "17");
    assert_string_equal(list[0].output, "/out/a.mp4");
    assert_int_equal(list[0].attempts, 1);
    assert_int_equal(list[1].state, JOB_STATE_QUEUED);
    assert_string_equal(list[1].deps, "a");
    free(list);
    assert_int_equal(store_shots_list(f->st, STORE_ACTIVE, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].shot, "b");
    free(list);
    assert_int_equal(store_manifest_active(f->st, "m", &err), 1);
}

/* Exactly-once submission: `submitting` and its token are in the store
 * before sbatch runs, so a daemon that dies meanwhile finds them on restart
 * and either adopts the job carrying the token or submits again. */
static void test_submitting_token_survives_a_crash(void **state)
{
    struct fx *f = *state;
    struct df_err err = {0};
    int64_t mrow;
    assert_int_equal(store_manifest_add(f->st, "m", "/x/m.yaml", "{}", "{}", 1000, &mrow, &err),
                     0);
    struct job_shot a, b;
    new_shot(f, mrow, "a", "", &a);
    new_shot(f, mrow, "b", "", &b);
    enum job_state from = a.state;
    assert_int_equal(job_on_submitting(&a, "ditfarm-1-1-00ff", 1001), JOB_EVENT_NONE);
    assert_int_equal(a.state, JOB_STATE_SUBMITTING);
    assert_int_equal(store_shot_save(f->st, &a, from, &err), 0);
    from = b.state;
    job_on_submitting(&b, "ditfarm-2-1-aa00", 1001);
    assert_int_equal(store_shot_save(f->st, &b, from, &err), 0);
    assert_int_equal(store_count_state(f->st, JOB_STATE_SUBMITTING, &err), 2);
    /* "kill -9": the store is all that is left */
    store_close(f->st);
    assert_int_equal(store_open(f->db, &f->st, &err), 0);
    struct job_shot *list = NULL;
    size_t n = 0;
    assert_int_equal(store_shots_list(f->st, STORE_ACTIVE, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].state, JOB_STATE_SUBMITTING);
    assert_string_equal(list[0].token, "ditfarm-1-1-00ff");
    /* Slurm has a's token: adopted, one attempt; b's is nowhere: queued again */
    from = list[0].state;
    assert_int_equal(job_on_submitted(&list[0], "41", 1002), JOB_EVENT_SUBMITTED);
    assert_int_equal(store_shot_save(f->st, &list[0], from, &err), 0);
    assert_int_equal(list[0].attempts, 1);
    from = list[1].state;
    job_on_submit_lost(&list[1], 1002);
    assert_int_equal(list[1].state, JOB_STATE_QUEUED);
    assert_non_null(strstr(list[1].reason, "ditfarm-2-1-aa00"));
    assert_int_equal(store_shot_save(f->st, &list[1], from, &err), 0);
    assert_int_equal(store_count_state(f->st, JOB_STATE_SUBMITTING, &err), 0);
    free(list);
    /* a timed-out sbatch that did answer later, or a refusal, leaves submitting too */
    struct job_shot c;
    new_shot(f, mrow, "c", "", &c);
    from = c.state;
    job_on_submitting(&c, "ditfarm-3-1-0000", 1003);
    assert_int_equal(store_shot_save(f->st, &c, from, &err), 0);
    from = c.state;
    assert_int_equal(job_on_submit_error(&c, "sbatch: error: Unable to contact slurm controller",
                                         5, 300, 1004),
                     JOB_EVENT_RETRYING);
    assert_int_equal(store_shot_save(f->st, &c, from, &err), 0);
    /* retrying -> submitting -> retrying again is not a new "retrying" event */
    from = c.state;
    job_on_submitting(&c, "ditfarm-3-1-0001", 1010);
    assert_int_equal(store_shot_save(f->st, &c, from, &err), 0);
    assert_int_equal(job_on_submit_error(&c, "Socket timed out", 5, 300, 1011), JOB_EVENT_NONE);
    assert_int_equal(c.state, JOB_STATE_RETRYING);
    assert_false(job_transition_ok(JOB_STATE_WAITING, JOB_STATE_SUBMITTING));
    assert_false(job_transition_ok(JOB_STATE_SUBMITTING, JOB_STATE_RUNNING));
}

static void test_retry_backoff_and_refusal(void **state)
{
    (void)state;
    struct job_shot s = {0};
    job_on_intake(&s, 0);
    const char *down = "sbatch x: sbatch: error: Batch job submission failed: Unable to contact "
                       "slurm controller (connect failure)";
    assert_int_equal(job_on_submit_error(&s, down, 5, 30, 100), JOB_EVENT_RETRYING);
    assert_int_equal(s.state, JOB_STATE_RETRYING);
    assert_int_equal(s.next_try, 105);
    assert_string_equal(s.reason, down); /* Slurm's words, verbatim */
    assert_int_equal(job_on_submit_error(&s, down, 5, 30, 105), JOB_EVENT_NONE);
    assert_int_equal(s.next_try, 115);
    job_on_submit_error(&s, down, 5, 30, 115);
    assert_int_equal(s.next_try, 135);
    job_on_submit_error(&s, down, 5, 30, 135);
    assert_int_equal(s.next_try, 165); /* capped at 30 */
    assert_int_equal(job_on_submitted(&s, "9", 170), JOB_EVENT_SUBMITTED);
    assert_int_equal(s.submit_tries, 0);
    assert_string_equal(s.reason, "");

    struct job_shot r = {0};
    job_on_intake(&r, 0);
    assert_int_equal(
        job_on_submit_error(&r, "sbatch: error: invalid partition specified: x", 5, 30, 1),
        JOB_EVENT_FAILED);
    assert_int_equal(r.state, JOB_STATE_FAILED);
    assert_true(job_state_terminal(r.state));
    assert_int_equal(job_on_cancel(&r, 2), JOB_EVENT_NONE);
}

static void test_unfinished_end_resubmits_while_attempts_last(void **state)
{
    (void)state;
    struct job_shot s = {0};
    snprintf(s.shot, sizeof(s.shot), "a");
    job_on_intake(&s, 0);
    struct job_end end = {.has_ckpt = 1};
    for (int attempt = 1; attempt <= 2; attempt++) {
        job_on_submitted(&s, "5", attempt * 10);
        assert_int_equal(job_on_job_end(&s, &end, "COMPLETED", 2, attempt * 10 + 1),
                         attempt < 2 ? JOB_EVENT_RESUBMIT : JOB_EVENT_FAILED);
    }
    assert_int_equal(s.state, JOB_STATE_FAILED);
    assert_non_null(strstr(s.reason, "attempts used up"));

    struct job_shot t = {0};
    job_on_intake(&t, 0);
    job_on_submitted(&t, "6", 1);
    struct job_end none = {0};
    snprintf(none.last_line, sizeof(none.last_line), "worker failed with exit 1");
    assert_int_equal(job_on_job_end(&t, &none, "", 3, 2), JOB_EVENT_FAILED);
    assert_non_null(strstr(t.reason, "forgotten by Slurm"));
    assert_non_null(strstr(t.reason, "worker failed with exit 1"));

    struct job_shot c = {0};
    snprintf(c.deps, sizeof(c.deps), "a b");
    job_on_intake(&c, 0);
    assert_int_equal(job_on_deps(&c, 2, 1, NULL, 1), JOB_EVENT_NONE);
    assert_int_equal(c.state, JOB_STATE_WAITING);
    assert_int_equal(job_on_deps(&c, 2, 1, "b", 2), JOB_EVENT_FAILED);
    assert_non_null(strstr(c.reason, "dependency b"));
}

static void test_transition_table(void **state)
{
    (void)state;
    for (int s = 0; s < JOB_STATE_COUNT; s++) {
        enum job_state back;
        assert_int_equal(job_state_from_name(job_state_name(s), &back), 0);
        assert_int_equal(back, s);
        for (int t = 0; t < JOB_STATE_COUNT; t++)
            if (job_state_terminal(s)) /* invariant 1: only an operator's retry leaves */
                assert_int_equal(job_transition_ok(s, t),
                                 s != JOB_STATE_DONE &&
                                     (t == JOB_STATE_QUEUED || t == JOB_STATE_WAITING));
        if (!job_state_terminal(s))
            assert_true(job_transition_ok(s, JOB_STATE_CANCELLED));
    }
    assert_true(job_transition_ok(JOB_STATE_RUNNING, JOB_STATE_SUBMITTED)); /* requeued */
    assert_false(job_transition_ok(JOB_STATE_WAITING, JOB_STATE_SUBMITTED));
    assert_string_equal(job_event_name(JOB_EVENT_DONE), "shot.done");
}

static void test_inspect_job_dir(void **state)
{
    struct fx *f = *state;
    struct job_shot s = {0};
    snprintf(s.shot, sizeof(s.shot), "a");
    snprintf(s.job_id, sizeof(s.job_id), "42");
    snprintf(s.job_dir, sizeof(s.job_dir), "%s/job", f->dir);
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s", s.job_dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/ckpt", s.job_dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/logs", s.job_dir);
    mkdir(p, 0755);
    struct job_end end;
    struct df_err err = {0};
    assert_int_equal(job_inspect_end(&s, &end, &err), 0);
    assert_false(end.done);
    assert_false(end.has_ckpt);
    /* another shot's checkpoint ("a-b") is not this one's */
    snprintf(p, sizeof(p), "%s/ckpt/ckpt-a-b-000004.dfck", s.job_dir);
    fclose(fopen(p, "w"));
    assert_int_equal(job_inspect_end(&s, &end, &err), 0);
    assert_false(end.has_ckpt);
    snprintf(p, sizeof(p), "%s/ckpt/ckpt-a-000004.dfck", s.job_dir);
    fclose(fopen(p, "w"));
    snprintf(p, sizeof(p), "%s/logs/slurm-42.out", s.job_dir);
    FILE *log = fopen(p, "w");
    fputs("ditfarm: job 42 (restart 0) shot a on n1\nINFO shot a: step 1/8 t=0.5 1s ETA 9.0s (x)\n"
          "ditfarm: worker exit 3 after TERM (preempted or cancelled): checkpoint kept\n",
          log);
    fclose(log);
    /* progress comes from progress.json, never from the log */
    snprintf(p, sizeof(p), "%s/progress.json", s.job_dir);
    struct progress_file pf = {.shot = "a", .state = "checkpointed", .step = 3, .steps = 8,
                               .seconds_per_step = 1, .eta_s = 5, .last_ckpt_step = 3};
    assert_int_equal(progress_file_write(p, &pf, &err), 0);
    assert_int_equal(job_inspect_end(&s, &end, &err), 0);
    assert_true(end.has_ckpt);
    assert_string_equal(end.last_line, "worker exit 3 after TERM (preempted or cancelled): "
                                       "checkpoint kept");
    struct progress pr;
    progress_read(s.job_dir, NULL, &pr);
    assert_int_equal(pr.step, 3);
    assert_int_equal(pr.steps, 8);
    assert_string_equal(pr.eta, "5.000s");
    assert_int_equal(pr.last_ckpt_step, 3);
    assert_string_equal(pr.state, "checkpointed");
    assert_true(pr.cache_hit < 0); /* no passes counted */
    snprintf(p, sizeof(p), "%s/ckpt/a.done", s.job_dir);
    FILE *d = fopen(p, "w");
    fputs("/out/a.mp4\n", d);
    fclose(d);
    assert_int_equal(job_inspect_end(&s, &end, &err), 0);
    assert_true(end.done);
    assert_string_equal(end.output, "/out/a.mp4");
}

static void test_events_and_nodes(void **state)
{
    struct fx *f = *state;
    struct df_err err = {0};
    assert_int_equal(store_event_add(f->st, "http://a/", "shot.done", "{\"x\":1}", 100, &err), 0);
    assert_int_equal(store_event_add(f->st, "http://b/", "shot.done", "{\"x\":2}", 100, &err), 0);
    struct store_event *ev;
    size_t n;
    assert_int_equal(store_events_due(f->st, 100, 8, &ev, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].body, "{\"x\":1}");
    assert_int_equal(store_event_result(f->st, ev[0].row, 1, 0, "", 0, 100, &err), 0);
    assert_int_equal(store_event_result(f->st, ev[1].row, 0, 0, "refused", 110, 100, &err), 0);
    store_events_free(ev, n);
    /* the failed one waits for its retry time, then comes back with tries counted */
    assert_int_equal(store_events_due(f->st, 105, 8, &ev, &n, &err), 0);
    assert_int_equal(n, 0);
    store_events_free(ev, n);
    assert_int_equal(store_events_due(f->st, 110, 8, &ev, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].tries, 1);
    assert_int_equal(store_event_result(f->st, ev[0].row, 0, 1, "refused", 0, 110, &err), 0);
    store_events_free(ev, n);
    assert_int_equal(store_events_count(f->st, "sent", &err), 1);
    assert_int_equal(store_events_count(f->st, "dropped", &err), 1);
    assert_int_equal(store_events_count(f->st, "pending", &err), 0);

    char old[64];
    assert_int_equal(store_node_update(f->st, "n1", "idle", 1, old, sizeof(old), &err), 1);
    assert_string_equal(old, "");
    assert_int_equal(store_node_update(f->st, "n1", "idle", 2, old, sizeof(old), &err), 0);
    assert_int_equal(store_node_update(f->st, "n1", "drained", 3, old, sizeof(old), &err), 1);
    assert_string_equal(old, "idle");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_wal_and_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shot_lifecycle_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submitting_token_survives_a_crash, setup, teardown),
        cmocka_unit_test(test_retry_backoff_and_refusal),
        cmocka_unit_test(test_unfinished_end_resubmits_while_attempts_last),
        cmocka_unit_test(test_transition_table),
        cmocka_unit_test_setup_teardown(test_inspect_job_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_and_nodes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
