/*
 * safeio.h -- files and directories made inside a directory that someone
 * else may also write to (a job directory on a shared file system, the
 * daemon's state directory): no symbolic link planted there is ever followed.
 *
 * Directories are walked with openat(O_DIRECTORY | O_NOFOLLOW) one component
 * at a time; files are written to a fresh temporary name created with
 * O_CREAT | O_EXCL | O_NOFOLLOW and renamed over the final name (rename
 * replaces a link, never writes through it), so a reader sees the old file or
 * the new one, never half of one.
 *
 *     int dfd;
 *     if (safeio_mkdirs_at(AT_FDCWD, "/jobs", "m/s1/logs", 0755, &dfd, &err) < 0) ...
 *     if (safeio_write_at(dfd, "job.sbatch", text, strlen(text), 0644, &err) < 0) ...
 *     close(dfd);
 */
#ifndef DF_SAFEIO_H
#define DF_SAFEIO_H

#include "err.h"

#include <stddef.h>
#include <sys/types.h>

/* Open `root` (followed if a link: the root is configured, not planted),
 * then create-or-open each component of the relative path `rel` below it
 * with mode `mode`, refusing any component that is a symbolic link or not a
 * directory.  rel may be "" (the root itself).  Returns 0 with *out_fd (an
 * O_DIRECTORY descriptor, caller closes), DF_E_INVAL (a link or a ".."
 * component: the message names it), DF_E_IO. */
int safeio_mkdirs_at(int base_fd, const char *root, const char *rel, mode_t mode, int *out_fd,
                     struct df_err *err);

/* Write len bytes to dir_fd/name through a temporary file and rename (see
 * above); the file gets `mode` exactly (not masked).  Returns 0 or DF_E_IO
 * naming the file. */
int safeio_write_at(int dir_fd, const char *name, const void *data, size_t len, mode_t mode,
                    struct df_err *err);

/* Write all n bytes to fd, retrying short writes and EINTR (sockets,
 * pipes, files).  Returns 0, or -1 with errno set (0 when write returned 0). */
int safeio_write_all(int fd, const void *data, size_t n);

/* Read all of dir_fd/name (not following a link; at most max bytes) into a
 * malloc'd NUL-terminated buffer.  Returns 0, DF_E_NOTFOUND, DF_E_RANGE
 * (larger than max), DF_E_IO. */
int safeio_read_at(int dir_fd, const char *name, size_t max, char **out, size_t *len,
                   struct df_err *err);

#endif /* DF_SAFEIO_H */
