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

/* ---- confinement ------------------------------------------------------------ */

int paths_has_dotdot(const char *path)
{
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        p += n;
        p += *p == '/';
    }
    return 0;
}

int paths_check_clean(const char *what, const char *path, struct df_err *err)
{
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        DF_FAIL_IF(*p < 0x20 || *p == 0x7f, err, DF_E_INVAL,
                   "%s holds a control character (byte 0x%02x): refused", what, *p);
    DF_FAIL_IF(paths_has_dotdot(path), err, DF_E_INVAL,
               "%s '%.200s' has a '..' component: refused (write the path without '..')", what,
               path);
    return 0;
}

/* Join (when relative) and drop "." components and repeated slashes. */
static int lexical_abs(const char *root, const char *path, char *dst, size_t cap,
                       struct df_err *err)
{
    char joined[PATH_MAX];
    int n = path[0] == '/' ? snprintf(joined, sizeof(joined), "%s", path)
                           : snprintf(joined, sizeof(joined), "%s/%s", root, path);
    DF_FAIL_IF(n < 0 || (size_t)n >= sizeof(joined), err, DF_E_RANGE, "path too long: %.200s",
               path);
    size_t o = 0;
    for (const char *p = joined; *p;) {
        size_t len = strcspn(p, "/");
        if (len && !(len == 1 && p[0] == '.')) {
            DF_FAIL_IF(o + 1 + len >= cap, err, DF_E_RANGE, "path too long: %.200s", joined);
            dst[o++] = '/';
            memcpy(dst + o, p, len);
            o += len;
        }
        p += len;
        p += *p == '/';
    }
    DF_FAIL_IF(cap < 2, err, DF_E_RANGE, "no room for a path");
    if (o == 0)
        dst[o++] = '/';
    dst[o] = '\0';
    return 0;
}

/* realpath of the deepest existing ancestor of abs (abs itself when it exists). */
static int real_existing(const char *abs, char *real, struct df_err *err)
{
    char cur[PATH_MAX];
    snprintf(cur, sizeof(cur), "%s", abs);
    for (;;) {
        if (realpath(cur, real))
            return 0;
        if (errno != ENOENT && errno != ENOTDIR)
            return df_err_errno(err, DF_E_IO, "cannot resolve %s", cur);
        char *slash = strrchr(cur, '/');
        if (!slash || slash == cur) {
            snprintf(real, PATH_MAX, "/");
            return 0;
        }
        *slash = '\0';
    }
}

static int is_inside(const char *real, const char *root_real)
{
    size_t n = strlen(root_real);
    if (strcmp(root_real, "/") == 0)
        return 1;
    return strncmp(real, root_real, n) == 0 && (real[n] == '\0' || real[n] == '/');
}

/* Where a path lies relative to a root. */
enum confine_verdict { CONFINE_INSIDE, CONFINE_OUTSIDE, CONFINE_LINK_OUT, CONFINE_VERDICT_COUNT };

/* paths_confine, also saying why a path is refused (*verdict). */
static int confine(const char *root, const char *path, char *dst, size_t cap,
                   enum confine_verdict *verdict, struct df_err *err)
{
    *verdict = CONFINE_OUTSIDE;
    DF_TRY(paths_check_clean("path", path, err));
    char root_real[PATH_MAX], real[PATH_MAX];
    if (!realpath(root, root_real))
        return df_err_errno(err, errno == ENOENT ? DF_E_NOTFOUND : DF_E_IO,
                            "root directory %s", root);
    char abs[PATH_MAX];
    /* relative paths resolve under the root as the user named it */
    DF_TRY(lexical_abs(root, path, abs, sizeof(abs), err));
    DF_TRY(real_existing(abs, real, err));
    char root_abs[PATH_MAX];
    DF_TRY(lexical_abs("/", root, root_abs, sizeof(root_abs), err));
    int named_inside = is_inside(abs, root_abs) || is_inside(abs, root_real);
    DF_FAIL_IF(!named_inside, err, DF_E_INVAL, "%.300s is outside the root %s", abs, root);
    *verdict = CONFINE_LINK_OUT;
    DF_FAIL_IF(!is_inside(real, root_real), err, DF_E_INVAL,
               "%.300s leads outside the root %s through a symbolic link (to %.300s)", abs, root,
               real);
    *verdict = CONFINE_INSIDE;
    DF_FAIL_IF(strlen(abs) >= cap, err, DF_E_RANGE, "path too long: %.200s", abs);
    memcpy(dst, abs, strlen(abs) + 1);
    return 0;
}

int paths_confine(const char *root, const char *path, char *dst, size_t cap, struct df_err *err)
{
    enum confine_verdict v;
    return confine(root, path, dst, cap, &v, err);
}

int paths_confine_any(const char *roots, const char *path, char *dst, size_t cap,
                      struct df_err *err)
{
    DF_TRY(paths_check_clean("path", path, err));
    char list[4096];
    DF_FAIL_IF(strlen(roots) >= sizeof(list), err, DF_E_RANGE, "root list too long");
    memcpy(list, roots, strlen(roots) + 1);
    struct df_err last = {0};
    char *save = NULL;
    int tried = 0;
    enum confine_verdict v = CONFINE_OUTSIDE;
    for (char *r = strtok_r(list, ":", &save); r; r = strtok_r(NULL, ":", &save)) {
        tried++;
        if (confine(r, path, dst, cap, &v, &last) == 0)
            return 0;
        /* relative: the first root only; inside a root by name but out by a
         * link: that is the answer */
        if (path[0] != '/' || v == CONFINE_LINK_OUT)
            break;
    }
    if (tried == 0)
        return df_err_set(err, DF_E_INVAL, "no root directory configured for %.200s", path);
    if (tried > 1 && v != CONFINE_LINK_OUT)
        return df_err_set(err, DF_E_INVAL, "%.300s is outside every allowed root (%.300s)", path,
                          roots);
    return df_err_set(err, last.code, "%s", last.msg);
}
