/* ctl.c -- the control socket, both ends (see ctl.h). */
#include "ctl.h"
#include "safeio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

int ctl_state_dir(const char *given, char *dst, size_t cap, struct df_err *err)
{
    const char *env = getenv("DITFARM_STATE_DIR"), *home = getenv("HOME");
    int n;
    if (given && given[0])
        n = snprintf(dst, cap, "%s", given);
    else if (env && env[0])
        n = snprintf(dst, cap, "%s", env);
    else if (home && home[0])
        n = snprintf(dst, cap, "%s/.local/state/ditfarm", home);
    else
        return df_err_set(err, DF_E_NOTFOUND,
                          "no state directory: give --state-dir or set DITFARM_STATE_DIR");
    if (n < 0 || (size_t)n >= cap)
        return df_err_set(err, DF_E_RANGE, "state directory path too long");
    return 0;
}

int ctl_socket_path(const char *state_dir, char *dst, size_t cap, struct df_err *err)
{
    struct sockaddr_un sa;
    int n = snprintf(dst, cap, "%s/%s", state_dir, CTL_SOCKET_NAME);
    if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof(sa.sun_path))
        return df_err_set(err, DF_E_RANGE,
                          "socket path %s/%s is longer than %zu bytes: use a shorter --state-dir",
                          state_dir, CTL_SOCKET_NAME, sizeof(sa.sun_path) - 1);
    return 0;
}

/* The socket address of path; -1 (ENAMETOOLONG) rather than a truncated
 * path, which would name another socket. */
static int fill_sun(struct sockaddr_un *sa, const char *path)
{
    size_t n = strlen(path);
    if (n >= sizeof(sa->sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa->sun_path, path, n + 1);
    return 0;
}

static int connect_to(const char *path, int *fd)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    *fd = -1;
    if (fill_sun(&sa, path) != 0)
        return -1;
    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0)
        return -1;
    if (connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        errno = e;
        return -1;
    }
    return 0;
}

/* Read until '\n' or EOF into a malloc'd string (without the newline). */
static int read_line(int fd, size_t max, char **out, struct df_err *err)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    if (!buf)
        return df_err_set(err, DF_E_NOMEM, "out of memory reading the control socket");
    for (;;) {
        if (len + 1 == cap) {
            if (cap >= max) {
                free(buf);
                return df_err_set(err, DF_E_RANGE, "control message longer than %zu bytes", max);
            }
            char *g = realloc(buf, cap * 2);
            if (!g) {
                free(buf);
                return df_err_set(err, DF_E_NOMEM, "out of memory reading the control socket");
            }
            buf = g;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + len, cap - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int timeout = errno == EAGAIN || errno == EWOULDBLOCK;
            free(buf);
            return timeout ? df_err_set(err, DF_E_TIMEOUT, "control socket: no answer in time")
                           : df_err_errno(err, DF_E_IO, "control socket: read");
        }
        if (got == 0)
            break;
        char *nl = memchr(buf + len, '\n', (size_t)got);
        len += (size_t)got;
        if (nl) {
            len = (size_t)(nl - buf);
            break;
        }
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

static void set_timeout(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int ctl_request(const char *state_dir, const char *request, int timeout_s, char **reply,
                struct df_err *err)
{
    char path[PATH_MAX];
    *reply = NULL;
    DF_TRY(ctl_socket_path(state_dir, path, sizeof(path), err));
    int fd;
    if (connect_to(path, &fd) != 0) {
        if (errno == ENOENT || errno == ECONNREFUSED)
            return df_err_set(err, DF_E_NOTFOUND,
                              "ditfarmd is not running (no socket at %s): start it with "
                              "`ditfarmd --state-dir %s`",
                              path, state_dir);
        return df_err_errno(err, DF_E_IO, "cannot connect to %s", path);
    }
    set_timeout(fd, timeout_s);
    int rc = 0;
    if (safeio_write_all(fd, request, strlen(request)) != 0 || safeio_write_all(fd, "\n", 1) != 0)
        rc = df_err_errno(err, DF_E_IO, "cannot write to %s", path);
    else
        rc = read_line(fd, CTL_MAX_REQUEST, reply, err);
    close(fd);
    if (rc == 0 && (*reply)[0] == '\0') {
        free(*reply);
        *reply = NULL;
        rc = df_err_set(err, DF_E_IO, "%s: the daemon closed the connection without answering",
                        path);
    }
    return rc;
}

int ctl_listen(const char *path, int *fd, struct df_err *err)
{
    int probe;
    if (connect_to(path, &probe) == 0) {
        close(probe);
        return df_err_set(err, DF_E_INVAL, "another ditfarmd is listening on %s", path);
    }
    unlink(path); /* stale: its daemon is gone */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (fill_sun(&sa, path) != 0)
        return df_err_set(err, DF_E_RANGE, "socket path %s is too long", path);
    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (*fd < 0)
        return df_err_errno(err, DF_E_IO, "socket");
    if (bind(*fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(*fd, 16) != 0) {
        int rc = df_err_errno(err, DF_E_IO, "cannot listen on %s", path);
        close(*fd);
        *fd = -1;
        return rc;
    }
    chmod(path, 0600); /* only the owner may submit and cancel */
    return 0;
}
