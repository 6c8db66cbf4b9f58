/* proc.c -- background shell commands for the daemon loop (see proc.h). */
#include "proc.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROC_MAX_OUTPUT (8u << 20) /* squeue of a big cluster fits; more is dropped */

int proc_start(struct proc *p, const char *cmd, int timeout_ms, struct df_err *err)
{
    memset(p, 0, sizeof(*p));
    p->fd = -1;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return df_err_errno(err, DF_E_IO, "pipe for '%s'", cmd);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return df_err_errno(err, DF_E_IO, "fork for '%s'", cmd);
    }
    if (pid == 0) {
        /* the child: its own process group, so a timeout kills sbatch too */
        setpgid(0, 0);
        signal(SIGPIPE, SIG_DFL);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    p->pid = pid;
    p->fd = fds[0];
    p->deadline_ms = df_clock_ms() + timeout_ms;
    p->cap = 4096;
    p->out = malloc(p->cap);
    if (!p->out) {
        proc_free(p);
        return df_err_set(err, DF_E_NOMEM, "out of memory running '%s'", cmd);
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
        p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
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
