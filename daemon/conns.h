/*
 * conns.h -- the control socket's clients, served without ever blocking the
 * loop.  Each accepted connection is non-blocking and has a deadline
 * (client-timeout-ms from accept to the last reply byte) and a request size
 * limit (client-max-request); its bytes are read and its reply written as
 * poll() says they can be, so a client sending one byte every 1.5 s (or
 * never reading its reply) costs a slot until its deadline, nothing more.
 *
 * Only the daemon's own user may talk to it: the peer's uid (SO_PEERCRED)
 * must equal the daemon's effective uid, else the connection gets one error
 * line and is closed.  Files a manifest names are then read with exactly the
 * rights of the user who submitted it (docs/security.md).
 *
 *     struct conns cs;
 *     conns_init(&cs);
 *     ... each loop pass: n = conns_pollfds(&cs, listen_fd, pfd, cap);
 *         poll(pfd, n, tick); conns_step(&cs, d, pfd, n, now_ms);
 *     conns_close_all(&cs);
 */
#ifndef DF_CONNS_H
#define DF_CONNS_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define CONNS_MAX 32 /* clients at once; more wait in the listen backlog */

struct daemon;

struct conn {
    int fd;             /* -1: free slot */
    char *in;           /* request bytes so far (NUL-terminated) */
    size_t in_len, in_cap;
    char *out;          /* reply + "\n" once the request is complete */
    size_t out_len, out_off;
    int64_t deadline_ms; /* CLOCK_MONOTONIC ms after which the client is dropped */
};

struct conns {
    struct conn c[CONNS_MAX];
};

void conns_init(struct conns *cs);
/* Fill pfd with the listening socket (when a slot is free) and every client,
 * each asking for the direction it waits on.  Returns how many were filled. */
int conns_pollfds(const struct conns *cs, int listen_fd, struct pollfd *pfd, int cap);
/* Accept new clients, move every client on (read, serve, write), drop those
 * past their deadline.  pfd/n as filled by conns_pollfds and set by poll(). */
void conns_step(struct conns *cs, struct daemon *d, const struct pollfd *pfd, int n,
                int64_t now_ms);
/* Close every client. */
void conns_close_all(struct conns *cs);

#endif /* DF_CONNS_H */
