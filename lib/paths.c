/* paths.c -- the configs/ lookup and small path helpers (see paths.h). */
#include "paths.h"
#include "df_version.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A configs dir is a directory holding models/. */
static int has_models(const char *dir)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof(p), "%s/models", dir) >= (int)sizeof(p))
        return 0;
    return is_dir(p);
}

static int finish(const char *dir, char *dst, size_t cap, struct df_err *err)
{
    char real[PATH_MAX];
    if (!realpath(dir, real))
        return df_err_errno(err, DF_E_IO, "%s", dir);
    if (strlen(real) >= cap)
        return df_err_set(err, DF_E_RANGE, "configs path too long: %s", real);
    memcpy(dst, real, strlen(real) + 1);
    return 0;
}

int paths_configs_dir(const char *explicit_dir, char *dst, size_t dst_cap, struct df_err *err)
{
    if (explicit_dir) {
        DF_FAIL_IF(!has_models(explicit_dir), err, DF_E_NOTFOUND,
                   "--configs %s: not a configs directory (no models/ inside)", explicit_dir);
        return finish(explicit_dir, dst, dst_cap, err);
    }
    const char *env = getenv("DITFARM_CONFIGS");
    if (env && *env) {
        DF_FAIL_IF(!has_models(env), err, DF_E_NOTFOUND,
                   "DITFARM_CONFIGS=%s: not a configs directory (no models/ inside)", env);
        return finish(env, dst, dst_cap, err);
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char cand[PATH_MAX] = "";
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            int w = snprintf(cand, sizeof(cand), "%s/../../configs", exe);
            if (w > 0 && (size_t)w < sizeof(cand) && has_models(cand))
                return finish(cand, dst, dst_cap, err);
        }
    }
    char src[PATH_MAX];
    snprintf(src, sizeof(src), "%s/configs", DITFARM_SOURCE_DIR);
    if (has_models(src))
        return finish(src, dst, dst_cap, err);
    return df_err_set(err, DF_E_NOTFOUND,
                      "no configs directory found (tried $DITFARM_CONFIGS, %s, %s); "
                      "pass --configs DIR",
                      cand[0] ? cand : "<executable dir>/../../configs", src);
}

int paths_join(const char *dir, const char *rel, char *dst, size_t dst_cap, struct df_err *err)
{
    while (rel[0] == '.' && rel[1] == '/') /* "./x" reads better as "x" in messages */
        rel += 2;
    int n = rel[0] == '/' ? snprintf(dst, dst_cap, "%s", rel)
                          : snprintf(dst, dst_cap, "%s/%s", dir, rel);
    DF_FAIL_IF(n < 0 || (size_t)n >= dst_cap, err, DF_E_RANGE, "path too long: %s/%s", dir, rel);
    return 0;
}

int paths_dirname_abs(const char *path, char *dst, size_t dst_cap, struct df_err *err)
{
    char tmp[PATH_MAX];
    DF_FAIL_IF(strlen(path) >= sizeof(tmp), err, DF_E_RANGE, "path too long: %.64s...", path);
    memcpy(tmp, path, strlen(path) + 1);
    char *slash = strrchr(tmp, '/');
    const char *dir = ".";
    if (slash == tmp)
        dir = "/";
    else if (slash) {
        *slash = '\0';
        dir = tmp;
    }
    if (dir[0] == '/')
        return paths_join("/", dir, dst, dst_cap, err);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return df_err_errno(err, DF_E_IO, "getcwd");
    if (strcmp(dir, ".") == 0)
        return paths_join("/", cwd, dst, dst_cap, err);
    return paths_join(cwd, dir, dst, dst_cap, err);
}

int paths_mkdirs(const char *dir, struct df_err *err)
{
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof(buf), "%s/", dir);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return df_err_set(err, DF_E_RANGE, "path too long: %s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return df_err_errno(err, DF_E_IO, "cannot create directory %s", buf);
        *p = '/';
    }
    return 0;
}

int paths_mkdirs_for(const char *file, struct df_err *err)
{
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof(buf), "%s", file);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return df_err_set(err, DF_E_RANGE, "path too long: %s", file);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return 0;
    *slash = '\0';
    return paths_mkdirs(buf, err);
}
