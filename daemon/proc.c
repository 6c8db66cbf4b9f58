/* proc.c -- background commands for the daemon loop (see proc.h). */
#include "proc.h"
#include "clock.h"
#include "subproc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROC_MAX_OUTPUT (8u << 20) /* squeue of a big cluster fits; more is dropped */

int proc_start(struct proc *p, const char *const *argv, int timeout_ms, struct df_err *err)
{
    memset(p, 0, sizeof(*p));
    p->fd = -1;
    /* stderr with stdout: Slurm's error words are the answer we report */
    pid_t pid;
    int fd;
    DF_TRY(subproc_start(argv, SUBPROC_STDERR_MERGE, &pid, &fd, NULL, err));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    p->pid = pid;
    p->fd = fd;
    p->deadline_ms = df_clock_ms() + timeout_ms;
    p->cap = 4096;
    p->out = malloc(p->cap);
    if (!p->out) {
        proc_free(p);
        return df_err_set(err, DF_E_NOMEM, "out of memory running %s", argv[0]);
    }
    p->out[0] = '\0';
    return 0;
}

static void drain(struct proc *p)
{
    while (p->fd >= 0) {
        if (p->len + 1 == p->cap && p->cap < PROC_MAX_OUTPUT) {
            char *g = realloc(p->out, p->cap * 2);
            if (g)
                p->out = g, p->cap *= 2;
        }
        char sink[4096];
        int full = p->len + 1 >= p->cap;
        ssize_t n = full ? read(p->fd, sink, sizeof(sink))
                         : read(p->fd, p->out + p->len, p->cap - 1 - p->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return; /* EAGAIN: nothing more for now */
        if (n == 0) {
            close(p->fd);
            p->fd = -1;
            return;
        }
        if (!full)
            p->len += (size_t)n;
        p->out[p->len] = '\0';
    }
}

int proc_poll(struct proc *p)
{
    if (p->done || !p->pid)
        return p->done;
    drain(p);
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
        drain(p);
        p->status = subproc_status(st);
        p->pid = 0;
        p->done = 1;
        if (p->fd >= 0)
            close(p->fd), p->fd = -1;
        return 1;
    }
    if (df_clock_ms() > p->deadline_ms) {
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &st, 0);
        drain(p);
        p->status = PROC_TIMED_OUT;
        p->pid = 0;
        p->done = 1;
        if (p->fd >= 0)
            close(p->fd), p->fd = -1;
        return 1;
    }
    return 0;
}

int proc_active(const struct proc *p)
{
    return p->out != NULL;
}

void proc_free(struct proc *p)
{
    if (p->pid > 0) {
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    if (p->fd >= 0)
        close(p->fd);
    free(p->out);
    memset(p, 0, sizeof(*p));
    p->fd = -1;
}
