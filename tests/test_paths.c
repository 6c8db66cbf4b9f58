/* test_paths.c -- the configs/ lookup order and the path helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "paths.h"
#include "safeio.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIGS DF_SOURCE_DIR "/configs"

static void test_configs_dir(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    struct df_err err = {0};
    assert_int_equal(paths_configs_dir(CONFIGS, dir, sizeof(dir), &err), 0);
    assert_int_equal(paths_configs_dir(DF_TEST_DATA, dir, sizeof(dir), &err), DF_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "no models/ inside"));
    setenv("DITFARM_CONFIGS", CONFIGS, 1);
    assert_int_equal(paths_configs_dir(NULL, dir, sizeof(dir), &err), 0);
    unsetenv("DITFARM_CONFIGS");
    /* Fallback: the compiled-in source dir. */
    assert_int_equal(paths_configs_dir(NULL, dir, sizeof(dir), &err), 0);
    char want[PATH_MAX];
    assert_non_null(realpath(CONFIGS, want));
    assert_string_equal(dir, want);
}

static void test_join_and_dirname(void **state)
{
    (void)state;
    char out[PATH_MAX], small[8];
    struct df_err err = {0};
    assert_int_equal(paths_join("/a/b", "c.yaml", out, sizeof(out), &err), 0);
    assert_string_equal(out, "/a/b/c.yaml");
    assert_int_equal(paths_join("/a/b", "./c.yaml", out, sizeof(out), &err), 0);
    assert_string_equal(out, "/a/b/c.yaml");
    assert_int_equal(paths_join("/a/b", "/abs/x", out, sizeof(out), &err), 0);
    assert_string_equal(out, "/abs/x");
    assert_int_equal(paths_join("/a/b", "long-name", small, sizeof(small), &err), DF_E_RANGE);
    assert_int_equal(paths_dirname_abs("/x/y/z.yaml", out, sizeof(out), &err), 0);
    assert_string_equal(out, "/x/y");
    assert_int_equal(paths_dirname_abs("/z.yaml", out, sizeof(out), &err), 0);
    assert_string_equal(out, "/");
    char cwd[PATH_MAX], want[PATH_MAX + 8];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(paths_dirname_abs("z.yaml", out, sizeof(out), &err), 0);
    assert_string_equal(out, cwd);
    snprintf(want, sizeof(want), "%s/sub", cwd);
    assert_int_equal(paths_dirname_abs("sub/z.yaml", out, sizeof(out), &err), 0);
    assert_string_equal(out, want);
}

static void test_confine(void **state)
{
    (void)state;
    char root[] = "/tmp/df_test_confine_XXXXXX", p[PATH_MAX + 64], out[PATH_MAX];
    assert_non_null(mkdtemp(root));
    struct df_err err = {0};
    snprintf(p, sizeof(p), "%s/out", root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/out/esc", root);
    assert_int_equal(symlink("/etc", p), 0);

    assert_int_equal(paths_has_dotdot("a/../b"), 1);
    assert_int_equal(paths_has_dotdot(".."), 1);
    assert_int_equal(paths_has_dotdot("a/.."), 1);
    assert_int_equal(paths_has_dotdot("a..b/..c/c.."), 0);
    assert_int_equal(paths_check_clean("output path", "a\nb", &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "control character"));

    /* relative: under the root, "." and "//" dropped */
    assert_int_equal(paths_confine(root, "./out//new/x.mp4", out, sizeof(out), &err), 0);
    snprintf(p, sizeof(p), "%s/out/new/x.mp4", root);
    assert_string_equal(out, p);
    /* absolute inside: kept */
    assert_int_equal(paths_confine(root, p, out, sizeof(out), &err), 0);
    /* '..' anywhere, outside, through a link */
    assert_int_equal(paths_confine(root, "/tmp/x/../../../../etc/cron.d/x", out, sizeof(out), &err),
                     DF_E_INVAL);
    assert_non_null(strstr(err.msg, "'..'"));
    assert_int_equal(paths_confine(root, "/etc/cron.d/x", out, sizeof(out), &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "outside the root"));
    assert_int_equal(paths_confine(root, "out/esc/cron.d/x", out, sizeof(out), &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "symbolic link"));
    /* a prefix that is not a parent: /tmp/rootX is not under /tmp/root */
    snprintf(p, sizeof(p), "%sX/a", root);
    assert_int_equal(paths_confine(root, p, out, sizeof(out), &err), DF_E_INVAL);
    /* lists: relative under the first, absolute under any */
    char roots[PATH_MAX * 2];
    snprintf(roots, sizeof(roots), "/nonexistent-root:%s", root);
    snprintf(p, sizeof(p), "%s/a.mp4", root);
    assert_int_equal(paths_confine_any(roots, p, out, sizeof(out), &err), 0);
    assert_int_equal(paths_confine_any(roots, "/etc/passwd", out, sizeof(out), &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "outside every allowed root"));

    snprintf(p, sizeof(p), "rm -rf '%s'", root);
    assert_int_equal(system(p), 0);
}

static void test_safeio(void **state)
{
    (void)state;
    char root[] = "/tmp/df_test_safeio_XXXXXX", p[PATH_MAX + 64];
    assert_non_null(mkdtemp(root));
    struct df_err err = {0};
    int dfd;
    assert_int_equal(safeio_mkdirs_at(AT_FDCWD, root, "m/s1", 0755, &dfd, &err), 0);
    /* a planted link at the final name is replaced, its target untouched */
    snprintf(p, sizeof(p), "%s/target", root);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("keep", f);
    fclose(f);
    assert_int_equal(symlinkat(p, dfd, "job.sbatch"), 0);
    assert_int_equal(safeio_write_at(dfd, "job.sbatch", "new\n", 4, 0644, &err), 0);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(safeio_read_at(dfd, "job.sbatch", 100, &text, &len, &err), 0);
    assert_string_equal(text, "new\n");
    free(text);
    struct stat st;
    assert_int_equal(fstatat(dfd, "job.sbatch", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(safeio_read_at(dfd, "nope", 100, &text, &len, &err), DF_E_NOTFOUND);
    /* a link read is refused too */
    assert_int_equal(symlinkat(p, dfd, "link"), 0);
    assert_true(safeio_read_at(dfd, "link", 100, &text, &len, &err) < 0);
    close(dfd);
    f = fopen(p, "r");
    char buf[8] = "";
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "keep");
    /* a directory component that is a link is refused */
    snprintf(p, sizeof(p), "%s/m/s2", root);
    assert_int_equal(symlink("/tmp", p), 0);
    assert_int_equal(safeio_mkdirs_at(AT_FDCWD, root, "m/s2/logs", 0755, &dfd, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "symbolic link"));
    assert_int_equal(safeio_mkdirs_at(AT_FDCWD, root, "m/../x", 0755, &dfd, &err), DF_E_INVAL);
    snprintf(p, sizeof(p), "rm -rf '%s'", root);
    assert_int_equal(system(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configs_dir),
        cmocka_unit_test(test_join_and_dirname),
        cmocka_unit_test(test_confine),
        cmocka_unit_test(test_safeio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
