/* conns.c -- non-blocking control-socket clients with deadlines (see conns.h). */
#include "conns.h"

#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void conns_init(struct conns *cs)
{
    memset(cs, 0, sizeof(*cs));
    for (int i = 0; i < CONNS_MAX; i++)
        cs->c[i].fd = -1;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->in);
    free(c->out);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

void conns_close_all(struct conns *cs)
{
    for (int i = 0; i < CONNS_MAX; i++)
        conn_close(&cs->c[i]);
}

static int free_slot(const struct conns *cs)
{
    for (int i = 0; i < CONNS_MAX; i++)
        if (cs->c[i].fd < 0)
            return i;
    return -1;
}

int conns_pollfds(const struct conns *cs, int listen_fd, struct pollfd *pfd, int cap)
{
    int n = 0;
    if (n < cap)
        pfd[n++] = (struct pollfd){.fd = free_slot(cs) >= 0 ? listen_fd : -1, .events = POLLIN};
    for (int i = 0; i < CONNS_MAX && n < cap; i++) {
        const struct conn *c = &cs->c[i];
        pfd[n++] = (struct pollfd){.fd = c->fd, .events = c->out ? POLLOUT : POLLIN};
    }
    return n;
}

/* The reply to the connection, "\n"-terminated; NULL reply: out of memory. */
static void set_reply(struct conn *c, char *reply)
{
    static const char oom[] = "{\"ok\":false,\"error\":\"out of memory\"}";
    size_t n = reply ? strlen(reply) : sizeof(oom) - 1;
    c->out = malloc(n + 1);
    if (!c->out) {
        free(reply);
        return;
    }
    memcpy(c->out, reply ? reply : oom, n);
    c->out[n] = '\n';
    c->out_len = n + 1;
    c->out_off = 0;
    free(reply);
}

static char *error_reply(const char *msg)
{
    size_t n = strlen(msg) + 40;
    char *r = malloc(n);
    if (r)
        snprintf(r, n, "{\"ok\":false,\"error\":\"%s\"}", msg); /* msg: our own text, no quotes */
    return r;
}

static void accept_one(struct conns *cs, struct daemon *d, int64_t now_ms)
{
    int slot = free_slot(cs);
    if (slot < 0)
        return;
    int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            DF_WARN(d->log, "control socket: accept: %s", strerror(errno));
        return;
    }
    struct conn *c = &cs->c[slot];
    c->fd = fd;
    c->deadline_ms = now_ms + d->cfg.client_timeout_ms;
    struct ucred cr;
    socklen_t len = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || cr.uid != geteuid()) {
        DF_WARN(d->log, "control socket: refused a client of uid %d (only uid %d may connect)",
                len == sizeof(cr) ? (int)cr.uid : -1, (int)geteuid());
        set_reply(c, error_reply("permission denied: ditfarmd serves only its own user"));
    }
}

/* Read what is there.  Returns 1 when a whole line arrived, 0 for more to
 * come, -1 to drop the client (closed, error, too long). */
static int read_some(struct conn *c, struct daemon *d)
{
    for (;;) {
        size_t max = (size_t)d->cfg.client_max_request;
        if (c->in_len + 1 >= c->in_cap) {
            if (c->in_cap >= max + 1) {
                set_reply(c, error_reply("request too long (client-max-request)"));
                return 0;
            }
            size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
            if (cap > max + 1)
                cap = max + 1;
            char *g = realloc(c->in, cap);
            if (!g)
                return -1;
            c->in = g, c->in_cap = cap;
        }
        ssize_t got = read(c->fd, c->in + c->in_len, c->in_cap - 1 - c->in_len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        if (got == 0)
            return -1; /* hung up before a whole line (a probe sends nothing) */
        char *nl = memchr(c->in + c->in_len, '\n', (size_t)got);
        c->in_len += (size_t)got;
        c->in[c->in_len] = '\0';
        if (nl) {
            *nl = '\0';
            return 1;
        }
    }
}

/* Write what the socket takes.  Returns 1 when all is written, 0 for more,
 * -1 on error. */
static int write_some(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        c->out_off += (size_t)w;
    }
    return 1;
}

void conns_step(struct conns *cs, struct daemon *d, const struct pollfd *pfd, int n,
                int64_t now_ms)
{
    for (int i = 1; i < n && i <= CONNS_MAX; i++) {
        struct conn *c = &cs->c[i - 1];
        if (c->fd < 0 || pfd[i].fd != c->fd || !pfd[i].revents)
            continue;
        int r = c->out ? 0 : read_some(c, d);
        if (r < 0) {
            conn_close(c);
            continue;
        }
        if (r == 1) /* whole request: answer now (serve_request never waits on a client) */
            set_reply(c, serve_request(d, c->in));
        if (c->out && write_some(c) != 0)
            conn_close(c); /* done, or the client is gone */
    }
    for (int i = 0; i < CONNS_MAX; i++) {
        struct conn *c = &cs->c[i];
        if (c->fd >= 0 && now_ms > c->deadline_ms) {
            DF_DEBUG(d->log, "control socket: a client missed its deadline (%d ms): dropped",
                     d->cfg.client_timeout_ms);
            conn_close(c);
        }
    }
    /* a few new clients per pass: a flood cannot starve the tick */
    for (int k = 0; n > 0 && pfd[0].fd >= 0 && pfd[0].revents && k < 8; k++)
        accept_one(cs, d, now_ms);
}
