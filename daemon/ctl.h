/*
 * ctl.h -- the control socket between `ditfarm` and `ditfarmd`.
 *
 * A Unix stream socket <state_dir>/ditfarmd.sock.  Protocol: the client
 * connects, writes one JSON object on one line ({"cmd": "status"}), and reads
 * one JSON object on one line back ({"ok": true, ...} or {"ok": false,
 * "error": "..."}); then both sides close.  Commands: ping, submit, status,
 * cancel (docs/daemon.md has the fields).  One request per connection keeps
 * the daemon single-threaded and its loop simple.
 *
 *     char dir[PATH_MAX], *reply = NULL;
 *     ctl_state_dir(NULL, dir, sizeof(dir), &err);
 *     if (ctl_request(dir, "{\"cmd\":\"status\"}", 10, &reply, &err) < 0)
 *         ... err.msg says the daemon is not running and how to start it ...
 *     free(reply);
 */
#ifndef DF_CTL_H
#define DF_CTL_H

#include "err.h"

#include <stddef.h>

#define CTL_SOCKET_NAME "ditfarmd.sock"
#define CTL_MAX_REQUEST (256u << 20) /* a reply (status of many shots) the client reads */

/* The state directory: `given`, else $DITFARM_STATE_DIR, else
 * $HOME/.local/state/ditfarm.  Returns 0 or DF_E_RANGE / DF_E_NOTFOUND. */
int ctl_state_dir(const char *given, char *dst, size_t cap, struct df_err *err);
/* <state_dir>/ditfarmd.sock.  Returns 0 or DF_E_RANGE (too long for a socket). */
int ctl_socket_path(const char *state_dir, char *dst, size_t cap, struct df_err *err);

/* ---- client ---------------------------------------------------------------- */

/* Send one request, wait up to timeout_s for the reply (malloc'd, caller
 * frees, without the newline).  Returns 0; DF_E_NOTFOUND when no daemon
 * listens ("ditfarmd is not running (no socket at ...): start it with
 * `ditfarmd --state-dir DIR`"); DF_E_TIMEOUT; DF_E_IO. */
int ctl_request(const char *state_dir, const char *request, int timeout_s, char **reply,
                struct df_err *err);

/* ---- server ---------------------------------------------------------------- */

/* Listen on `path` (non-blocking).  A stale socket file (nobody answers) is
 * replaced; a live one means another daemon: DF_E_INVAL.  Returns 0 and *fd. */
int ctl_listen(const char *path, int *fd, struct df_err *err);
/* Clients are served by daemon/conns.h: non-blocking, with a deadline, a
 * size limit and a peer-uid check. */

#endif /* DF_CTL_H */
