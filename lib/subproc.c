/* subproc.c -- programs run with argument vectors (see subproc.h). */
#include "subproc.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void subproc_describe(const char *const *argv, char *dst, size_t cap)
{
    size_t len = 0;
    if (cap)
        dst[0] = '\0';
    for (size_t i = 0; argv[i] && len < cap; i++)
        len += (size_t)snprintf(dst + len, cap - len, "%s%s", i ? " " : "", argv[i]);
}

int subproc_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int setup_actions(posix_spawn_file_actions_t *fa, int wr, int ewr, enum subproc_stderr se)
{
    int rc = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(fa, wr, 1);
    if (!rc && se == SUBPROC_STDERR_MERGE)
        rc = posix_spawn_file_actions_adddup2(fa, wr, 2);
    if (!rc && se == SUBPROC_STDERR_NULL)
        rc = posix_spawn_file_actions_addopen(fa, 2, "/dev/null", O_WRONLY, 0);
    if (!rc && se == SUBPROC_STDERR_PIPE)
        rc = posix_spawn_file_actions_adddup2(fa, ewr, 2);
    return rc;
}

int subproc_start(const char *const *argv, enum subproc_stderr se, pid_t *pid, int *out_fd,
                  int *err_fd, struct df_err *err)
{
    DF_FAIL_IF(!argv || !argv[0], err, DF_E_INVAL, "subproc: empty argument vector");
    DF_FAIL_IF(se == SUBPROC_STDERR_PIPE && !err_fd, err, DF_E_INVAL, "subproc: no err_fd");
    int fds[2], efds[2] = {-1, -1};
    if (pipe2(fds, O_CLOEXEC) != 0)
        return df_err_errno(err, DF_E_IO, "pipe for %s", argv[0]);
    if (se == SUBPROC_STDERR_PIPE && pipe2(efds, O_CLOEXEC) != 0) {
        close(fds[0]);
        close(fds[1]);
        return df_err_errno(err, DF_E_IO, "pipe for %s", argv[0]);
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGUSR1);
    sigset_t none;
    sigemptyset(&none);
    int rc = setup_actions(&fa, fds[1], efds[1], se);
    rc = rc ? rc : posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                                     POSIX_SPAWN_SETSIGMASK);
    rc = rc ? rc : posix_spawnattr_setpgroup(&at, 0);
    rc = rc ? rc : posix_spawnattr_setsigdefault(&at, &def);
    rc = rc ? rc : posix_spawnattr_setsigmask(&at, &none);
    /* posix_spawnp takes char *const[]; it never writes through them */
    rc = rc ? rc : posix_spawnp(pid, argv[0], &fa, &at, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(fds[1]);
    if (efds[1] >= 0)
        close(efds[1]);
    if (rc != 0) {
        close(fds[0]);
        if (efds[0] >= 0)
            close(efds[0]);
        return df_err_set(err, rc == ENOENT ? DF_E_NOTFOUND : DF_E_IO, "cannot run %s: %s",
                          argv[0], strerror(rc));
    }
    *out_fd = fds[0];
    if (err_fd)
        *err_fd = efds[0];
    return 0;
}

/* Append what fd has to *buf (kept up to max bytes).  Returns 0 at EOF, 1 on more to come. */
static int take(int fd, char **buf, size_t *len, size_t *cap, size_t max)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : 0;
    if (n == 0)
        return 0;
    size_t keep = *len >= max ? 0 : (size_t)n < max - *len ? (size_t)n : max - *len;
    if (keep && *len + keep + 1 > *cap) {
        size_t ncap = (*cap ? *cap * 2 : 8192) + keep;
        char *g = realloc(*buf, ncap);
        if (!g)
            return 1; /* keep reading, drop the bytes */
        *buf = g;
        *cap = ncap;
    }
    if (keep && *buf) {
        memcpy(*buf + *len, chunk, keep);
        *len += keep;
    }
    return 1;
}

struct sink {
    char *buf;
    size_t len, cap;
};

/* Read until EOF on both pipes or the deadline; then reap (killing the group
 * at the deadline).  Returns the status. */
static int collect(pid_t pid, int fd, int efd, size_t max_out, int64_t deadline,
                   struct sink *o, struct sink *e)
{
    int timed_out = 0, open_o = 1, open_e = efd >= 0;
    while (open_o || open_e) {
        int64_t left = deadline - df_clock_ms();
        if (left <= 0) {
            timed_out = 1;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd p[2] = {{.fd = open_o ? fd : -1, .events = POLLIN},
                              {.fd = open_e ? efd : -1, .events = POLLIN}};
        if (poll(p, 2, (int)(left > 1000 ? 1000 : left)) <= 0)
            continue;
        if (p[0].revents)
            open_o = take(fd, &o->buf, &o->len, &o->cap, max_out);
        if (p[1].revents)
            open_e = take(efd, &e->buf, &e->len, &e->cap, max_out);
    }
    /* the pipes closed; the child may still run: wait for it up to the deadline */
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, timed_out ? 0 : WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            break;
        if (r == 0 && df_clock_ms() < deadline) {
            usleep(5000);
            continue;
        }
        if (r == 0) {
            timed_out = 1;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
        }
    }
    return timed_out ? SUBPROC_TIMED_OUT : subproc_status(st);
}

static char *finish_sink(struct sink *k)
{
    if (!k->buf)
        return calloc(1, 1);
    k->buf[k->len] = '\0';
    return k->buf;
}

static int run(const char *const *argv, enum subproc_stderr se, int timeout_ms, size_t max_out,
               char **out, char **err_text, int *status, struct df_err *err)
{
    pid_t pid;
    int fd, efd = -1;
    *out = NULL;
    *status = -1;
    DF_TRY(subproc_start(argv, se, &pid, &fd, &efd, err));
    struct sink o = {0}, e = {0};
    *status = collect(pid, fd, efd, max_out, df_clock_ms() + timeout_ms, &o, &e);
    close(fd);
    if (efd >= 0)
        close(efd);
    *out = finish_sink(&o);
    char *etext = finish_sink(&e);
    if (err_text)
        *err_text = etext;
    else
        free(etext);
    if (!*out || (err_text && !*err_text)) {
        free(*out);
        *out = NULL;
        return df_err_set(err, DF_E_NOMEM, "out of memory reading %s", argv[0]);
    }
    return 0;
}

int subproc_run(const char *const *argv, enum subproc_stderr se, int timeout_ms, size_t max_out,
                char **out, int *status, struct df_err *err)
{
    DF_FAIL_IF(se == SUBPROC_STDERR_PIPE, err, DF_E_INVAL, "subproc_run: use subproc_run2");
    return run(argv, se, timeout_ms, max_out, out, NULL, status, err);
}

int subproc_run2(const char *const *argv, int timeout_ms, size_t max_out, char **out,
                 char **err_text, int *status, struct df_err *err)
{
    return run(argv, SUBPROC_STDERR_PIPE, timeout_ms, max_out, out, err_text, status, err);
}
