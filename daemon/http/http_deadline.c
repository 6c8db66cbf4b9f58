/*
 * http_deadline.c -- a total deadline for receiving each request.
 *
 * libmicrohttpd's connection timeout is an idle timeout: a client that sends
 * one header byte every second never goes idle, and libmicrohttpd calls us
 * only once the headers are whole, so nothing of ours runs while it trickles.
 * Enough such clients hold every per-address slot and lock out everyone else
 * from that address for as long as they like.  So each connection is tracked
 * from accept (MHD_OPTION_NOTIFY_CONNECTION); while it is receiving a request
 * (from accept, or from the end of its previous request on keep-alive, until
 * the access handler has the whole body) a watchdog thread shuts its socket
 * down once http-request-deadline-s has passed.  shutdown() (not close())
 * wakes the connection's own thread, which then closes and frees it the
 * ordinary way; the fd stays valid because libmicrohttpd reports the close
 * (we unlink under the lock) before it closes the socket.  Replies and event
 * streams are not receiving and are never cut here.
 */
#include "http_int.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define WATCH_PERIOD_MS 250 /* how late past the deadline a cut may come */

struct http_conn {
    struct http_conn *prev, *next;
    int fd;
    int receiving;         /* a request is (still) arriving */
    struct timespec since; /* CLOCK_MONOTONIC: when it began to arrive */
};

static double since_s(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + 1e-9 * (double)(now.tv_nsec - t->tv_nsec);
}

void http_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    struct http_server *h = cls;
    struct http_conn *n = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        n = ci ? calloc(1, sizeof(*n)) : NULL;
        if (!n)
            return; /* untracked: only the idle timeout bounds it */
        n->fd = ci->connect_fd;
        n->receiving = 1;
        clock_gettime(CLOCK_MONOTONIC, &n->since);
        pthread_mutex_lock(&h->conn_mu);
        n->next = h->conns;
        if (h->conns)
            h->conns->prev = n;
        h->conns = n;
        pthread_mutex_unlock(&h->conn_mu);
        *socket_context = n;
        return;
    }
    if (!n)
        return;
    pthread_mutex_lock(&h->conn_mu);
    if (n->prev)
        n->prev->next = n->next;
    else
        h->conns = n->next;
    if (n->next)
        n->next->prev = n->prev;
    pthread_mutex_unlock(&h->conn_mu);
    free(n);
    *socket_context = NULL;
}

void http_conn_receiving(struct http_server *h, struct MHD_Connection *c, int receiving)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct http_conn *n = ci ? ci->socket_context : NULL;
    if (!n)
        return;
    pthread_mutex_lock(&h->conn_mu);
    n->receiving = receiving;
    if (receiving)
        clock_gettime(CLOCK_MONOTONIC, &n->since);
    pthread_mutex_unlock(&h->conn_mu);
}

static void cut_late(struct http_server *h)
{
    double limit = (double)h->cfg.http_request_deadline_s;
    for (struct http_conn *n = h->conns; n; n = n->next) {
        if (!n->receiving || since_s(&n->since) <= limit)
            continue;
        n->receiving = 0; /* cut once */
        shutdown(n->fd, SHUT_RDWR);
        DF_DEBUG(h->log, "http: a request not whole after %d s, connection cut",
                 h->cfg.http_request_deadline_s);
    }
}

static void *watchdog(void *arg)
{
    struct http_server *h = arg;
    pthread_mutex_lock(&h->conn_mu);
    while (!h->conn_stopping) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        t.tv_nsec += WATCH_PERIOD_MS * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->conn_cv, &h->conn_mu, &t);
        if (!h->conn_stopping)
            cut_late(h);
    }
    pthread_mutex_unlock(&h->conn_mu);
    return NULL;
}

int http_deadline_start(struct http_server *h, struct df_err *err)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&h->conn_cv, &a);
    pthread_condattr_destroy(&a);
    pthread_mutex_init(&h->conn_mu, NULL);
    h->conn_inited = 1;
    int e = pthread_create(&h->conn_watch, NULL, watchdog, h);
    if (e) {
        errno = e;
        return df_err_errno(err, DF_E_IO, "pthread_create (HTTP deadline watchdog)");
    }
    h->conn_watch_started = 1;
    return 0;
}

void http_deadline_stop(struct http_server *h)
{
    if (!h->conn_inited)
        return;
    if (h->conn_watch_started) {
        pthread_mutex_lock(&h->conn_mu);
        h->conn_stopping = 1;
        pthread_cond_broadcast(&h->conn_cv);
        pthread_mutex_unlock(&h->conn_mu);
        pthread_join(h->conn_watch, NULL);
    }
    pthread_cond_destroy(&h->conn_cv);
    pthread_mutex_destroy(&h->conn_mu);
}
