/* roots.c -- the jobs root and the output roots (see roots.h). */
#include "roots.h"

#include "ctl.h"
#include "paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int roots_jobs_default(char *dst, size_t cap, struct df_err *err)
{
    const char *env = getenv("DITFARM_JOBS_DIR");
    if (env && env[0]) {
        int n = snprintf(dst, cap, "%s", env);
        DF_FAIL_IF(n < 0 || (size_t)n >= cap, err, DF_E_RANGE, "DITFARM_JOBS_DIR too long");
        return 0;
    }
    char state[PATH_MAX];
    DF_TRY(ctl_state_dir(NULL, state, sizeof(state), err));
    int n = snprintf(dst, cap, "%s/jobs", state);
    DF_FAIL_IF(n < 0 || (size_t)n >= cap, err, DF_E_RANGE, "jobs directory path too long");
    return 0;
}

int roots_output_default(char *dst, size_t cap, struct df_err *err)
{
    const char *env = getenv("DITFARM_OUTPUT_ROOTS");
    if (env && env[0]) {
        int n = snprintf(dst, cap, "%s", env);
        DF_FAIL_IF(n < 0 || (size_t)n >= cap, err, DF_E_RANGE, "DITFARM_OUTPUT_ROOTS too long");
        return 0;
    }
    if (!getcwd(dst, cap))
        return df_err_errno(err, DF_E_IO, "getcwd");
    return 0;
}

/* The first root of a list, for relative paths. */
static void first_root(const char *roots, char *dst, size_t cap)
{
    snprintf(dst, cap, "%.*s", (int)strcspn(roots, ":"), roots);
}

int roots_confine_outputs(struct manifest *m, const char *roots, const char *date, int enforce,
                          struct df_err *err)
{
    char first[PATH_MAX];
    first_root(roots, first, sizeof(first));
    DF_FAIL_IF(!first[0], err, DF_E_INVAL, "no output root configured");
    for (size_t i = 0; i < m->n_shots; i++) {
        struct shot *s = &m->shots[i];
        char abs[PATH_MAX], expanded[PATH_MAX], checked[PATH_MAX];
        int rc = paths_check_clean("output path", s->output.path, err);
        if (rc == 0 && s->output.path[0] != '/')
            rc = paths_join(first, s->output.path, abs, sizeof(abs), err);
        else if (rc == 0)
            snprintf(abs, sizeof(abs), "%s", s->output.path);
        char *old = s->output.path;
        if (rc == 0 && !(s->output.path = strdup(abs))) {
            s->output.path = old;
            rc = df_err_set(err, DF_E_NOMEM, "out of memory");
        } else if (rc == 0) {
            free(old);
        }
        /* placeholders expand to identifiers, a seed and a date: the check
         * runs on the path this job will write */
        if (rc == 0 && enforce)
            rc = manifest_output_path(m, s, date, expanded, sizeof(expanded), err);
        if (rc == 0 && enforce)
            rc = paths_confine_any(roots, expanded, checked, sizeof(checked), err);
        if (rc < 0) {
            df_err_prefix(err, "shot %s: output", s->id);
            return rc;
        }
    }
    return 0;
}
