/* safeio.c -- link-proof directories and atomic file writes (see safeio.h). */
#include "safeio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int open_child(int dfd, const char *name, mode_t mode, const char *shown, int *out,
                      struct df_err *err)
{
    if (mkdirat(dfd, name, mode) != 0 && errno != EEXIST)
        return df_err_errno(err, DF_E_IO, "cannot create directory %s", shown);
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP || errno == ENOTDIR)
            return df_err_set(err, DF_E_INVAL,
                              "%s is a symbolic link or not a directory: refused", shown);
        return df_err_errno(err, DF_E_IO, "cannot open directory %s", shown);
    }
    *out = fd;
    return 0;
}

int safeio_mkdirs_at(int base_fd, const char *root, const char *rel, mode_t mode, int *out_fd,
                     struct df_err *err)
{
    int fd = openat(base_fd, root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return df_err_errno(err, DF_E_IO, "cannot open directory %s", root);
    char shown[4096];
    size_t sl = (size_t)snprintf(shown, sizeof(shown), "%s", root);
    for (const char *p = rel; *p;) {
        size_t n = strcspn(p, "/");
        char name[256];
        if (n == 0 || (n == 1 && p[0] == '.')) {
            p += n + (p[n] == '/');
            continue;
        }
        if (n >= sizeof(name) || (n == 2 && p[0] == '.' && p[1] == '.')) {
            close(fd);
            return df_err_set(err, DF_E_INVAL, "bad directory component '%.*s' in %s",
                              (int)(n > 64 ? 64 : n), p, rel);
        }
        memcpy(name, p, n);
        name[n] = '\0';
        if (sl < sizeof(shown))
            sl += (size_t)snprintf(shown + sl, sizeof(shown) - sl, "/%s", name);
        int child = -1;
        int rc = open_child(fd, name, mode, shown, &child, err);
        close(fd);
        if (rc < 0)
            return rc;
        fd = child;
        p += n + (p[n] == '/');
    }
    *out_fd = fd;
    return 0;
}

int safeio_write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int safeio_write_at(int dir_fd, const char *name, const void *data, size_t len, mode_t mode,
                    struct df_err *err)
{
    char tmp[300];
    int fd = -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* a fresh name each try: O_EXCL fails on anything already there (a planted link too) */
    for (int k = 0; fd < 0 && k < 16; k++) {
        snprintf(tmp, sizeof(tmp), ".%.200s.%ld.%ld.%d.tmp", name, (long)getpid(),
                 (long)ts.tv_nsec, k);
        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            return df_err_errno(err, DF_E_IO, "cannot create %s", tmp);
    }
    if (fd < 0)
        return df_err_set(err, DF_E_IO, "cannot create a temporary file for %s", name);
    int rc = 0;
    if (safeio_write_all(fd, data, len) != 0 || fchmod(fd, mode) != 0)
        rc = df_err_errno(err, DF_E_IO, "cannot write %s", name);
    if (close(fd) != 0 && rc == 0)
        rc = df_err_errno(err, DF_E_IO, "cannot write %s", name);
    if (rc == 0 && renameat(dir_fd, tmp, dir_fd, name) != 0)
        rc = df_err_errno(err, DF_E_IO, "cannot rename %s to %s", tmp, name);
    if (rc < 0)
        unlinkat(dir_fd, tmp, 0);
    return rc;
}

int safeio_read_at(int dir_fd, const char *name, size_t max, char **out, size_t *len,
                   struct df_err *err)
{
    *out = NULL;
    int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return df_err_errno(err, errno == ENOENT ? DF_E_NOTFOUND : DF_E_IO, "cannot open %s",
                            name);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return df_err_set(err, DF_E_IO, "%s is not a regular file", name);
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return df_err_set(err, DF_E_RANGE, "%s is larger than %zu bytes", name, max);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (got < 0) {
        free(buf);
        return df_err_errno(err, buf ? DF_E_IO : DF_E_NOMEM, "cannot read %s", name);
    }
    buf[got] = '\0';
    *out = buf;
    if (len)
        *len = (size_t)got;
    return 0;
}
