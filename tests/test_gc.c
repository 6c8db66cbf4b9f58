/* test_gc.c -- checkpoint retention of finished shots (daemon/gc.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "gc.h"
#include "job.h"
#include "store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void touch(const char *dir, const char *name, const char *text)
{
    char p[PATH_MAX + 256];
    snprintf(p, sizeof(p), "%.3000s/%.200s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int exists(const char *dir, const char *name)
{
    char p[PATH_MAX + 256];
    struct stat st;
    snprintf(p, sizeof(p), "%.3000s/%.200s", dir, name);
    return lstat(p, &st) == 0;
}

/* A shot `id` in `state`, last changed at `when`, with two checkpoints, a
 * temp file, a done marker and a planted link in its ckpt/. */
static void shot(store_t *st, int64_t mrow, const char *root, const char *id,
                 enum job_state state, int64_t when, char *ckdir)
{
    struct job_shot s;
    memset(&s, 0, sizeof(s));
    s.manifest_row = mrow;
    snprintf(s.manifest, sizeof(s.manifest), "m");
    snprintf(s.shot, sizeof(s.shot), "%s", id);
    snprintf(s.job_dir, sizeof(s.job_dir), "%s/%s", root, id);
    job_on_intake(&s, when);
    struct df_err err = {0};
    assert_int_equal(store_shot_add(st, &s, &err), 0);
    enum job_state from = s.state;
    if (state == JOB_STATE_DONE) {
        job_on_submitted(&s, "7", when);
        assert_int_equal(store_shot_save(st, &s, from, &err), 0);
        from = s.state;
        struct job_end end = {.done = 1};
        job_on_job_end(&s, &end, "COMPLETED", 3, when);
    } else {
        job_on_cancel(&s, when);
    }
    assert_int_equal(store_shot_save(st, &s, from, &err), 0);
    snprintf(ckdir, PATH_MAX, "%.3000s/ckpt", s.job_dir);
    assert_int_equal(mkdir(s.job_dir, 0755), 0);
    assert_int_equal(mkdir(ckdir, 0755), 0);
    char name[128];
    snprintf(name, sizeof(name), "ckpt-%s-000004.dfck", id);
    touch(ckdir, name, "x");
    snprintf(name, sizeof(name), "ckpt-%s-000008.dfck", id);
    touch(ckdir, name, "xx");
    snprintf(name, sizeof(name), "%s.done", id);
    touch(ckdir, name, "/out/a.mp4\n");
    snprintf(name, sizeof(name), "ckpt-%s-000009.dfck", id);
    char target[PATH_MAX];
    snprintf(target, sizeof(target), "%s/keep-me", root);
    touch(root, "keep-me", "precious");
    char link[PATH_MAX + 160];
    snprintf(link, sizeof(link), "%s/%s", ckdir, name);
    assert_int_equal(symlink(target, link), 0);
}

static void test_retention(void **state)
{
    (void)state;
    char root[] = "/tmp/df-test-gc.XXXXXX", db[128], cd[PATH_MAX], cf[PATH_MAX], cn[PATH_MAX];
    assert_non_null(mkdtemp(root));
    snprintf(db, sizeof(db), "%s/d.db", root);
    store_t *st = NULL;
    struct df_err err = {0};
    assert_int_equal(store_open(db, &st, &err), 0);
    int64_t mrow, now = 1000000;
    assert_int_equal(store_manifest_add(st, "m", "/m.yaml", "{}", "{}", 0, &mrow, &err), 0);
    shot(st, mrow, root, "old", JOB_STATE_DONE, now - 25 * 3600, cd);
    shot(st, mrow, root, "cx", JOB_STATE_CANCELLED, now - 25 * 3600, cf);
    shot(st, mrow, root, "new", JOB_STATE_DONE, now - 3600, cn);
    struct config c;
    config_defaults(&c);
    struct gc_report r;
    assert_int_equal(gc_run(st, &c, now, &r, &err), 0);
    /* the old done shot: both checkpoints gone, marker and link target kept */
    assert_false(exists(cd, "ckpt-old-000004.dfck"));
    assert_false(exists(cd, "ckpt-old-000008.dfck"));
    assert_true(exists(cd, "old.done"));
    assert_true(exists(cd, "ckpt-old-000009.dfck")); /* a link: not ours, left alone */
    assert_true(exists(root, "keep-me"));
    assert_int_equal(r.files, 2);
    assert_int_equal(r.bytes, 3);
    assert_int_equal(r.shots, 1);
    /* a cancelled shot keeps them a week (a retry resumes); a fresh done one a day */
    assert_true(exists(cf, "ckpt-cx-000008.dfck"));
    assert_true(exists(cn, "ckpt-new-000008.dfck"));
    /* a week later the cancelled one goes too; 0 keeps forever */
    c.ckpt_keep_done_hours = 0;
    assert_int_equal(gc_run(st, &c, now + 8 * 24 * 3600, &r, &err), 0);
    assert_false(exists(cf, "ckpt-cx-000008.dfck"));
    assert_true(exists(cn, "ckpt-new-000008.dfck"));
    /* idempotent */
    assert_int_equal(gc_run(st, &c, now + 8 * 24 * 3600, &r, &err), 0);
    assert_int_equal(r.files, 0);
    store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
