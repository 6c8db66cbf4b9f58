/*
 * ckpt.h -- write, verify, read and find checkpoints of a shot's denoise loop.
 *
 * A checkpoint is one self-describing file (layout: ckpt_format.h; protocol:
 * docs/checkpoint.md) holding named sections: scalars and small arrays (i64,
 * f64, bytes: sampler scalars, RNG state, cache accumulators, masks) and f32
 * tensors with their GLOBAL extents (latent, sampler history, cache
 * residuals).  Rank 0 writes the whole file after the ranks gathered their
 * shards, so a job may resume on any layout.
 *
 * Writing (rank 0, at a step boundary):
 *
 *     struct ckpt_write_opts o;  ckpt_write_opts_init(&o);  o.keep_last = 2;
 *     ckpt_writer_t *w;
 *     DF_TRY(ckpt_writer_create(&meta, &o, &w, err));
 *     ckpt_writer_put_f64(w, "tea.acc_c", acc_c, err);
 *     ckpt_writer_put_tensor(w, "latent", lat, (int64_t[]){16, 21, 60, 104}, 4, err);
 *     // the caller's buffers are free again here: put_* encodes immediately
 *     rc = ckpt_writer_commit(w, dir, &info, err);  // temp, fsync, rename, fsync dir, prune
 *     ckpt_writer_free(w);
 *
 * put_* does the compression (CPU work); commit only does I/O, so commit may
 * run on a helper thread while the ranks compute the next step (a writer is
 * used by one thread at a time; distinct writers are independent).  Until
 * commit the writer holds the encoded bytes, about the size of the file.
 *
 * Resuming:
 *
 *     char path[4096];  struct ckpt_skip_report skips;
 *     rc = ckpt_find_latest(dir, shot_id, shot_hash, weights_hash, path, sizeof path,
 *                           &skips, err);   // DF_E_NOTFOUND: start from step 0
 *     ckpt_reader_t *r;  ckpt_open(path, &r, err);
 *     ckpt_get_tensor(r, "latent", lat, extents, 4, err);  ckpt_close(r);
 *
 * Nothing here prints, exits, or keeps global state; the I/O hook
 * (struct ckpt_io) lets tests inject a full disk.
 */
#ifndef DF_CKPT_H
#define DF_CKPT_H

#include "ckpt_format.h"
#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ==== I/O hook ============================================================= */

/* How the writer touches the disk.  A NULL slot means the plain syscall.
 * Tests fill `write` to fail with ENOSPC after N bytes (no globals: the state
 * lives behind ctx). */
struct ckpt_io {
    /* Write up to len bytes; returns bytes written (>= 0) or -1 with errno set. */
    ssize_t (*write)(void *ctx, int fd, const void *buf, size_t len);
    /* Flush fd to stable storage; returns 0 or -1 with errno set (optional). */
    int (*fsync)(void *ctx, int fd);
    void *ctx; /* passed back to the slots; not owned */
};

/* ==== writing ============================================================== */

typedef struct ckpt_writer ckpt_writer_t;

struct ckpt_write_opts {
    enum ckpt_encoding encoding; /* for f32 tensors; default CKPT_ENCODING_SHUFFLE_ZSTD */
    int zstd_level;              /* default 1 (see bench/RESULTS.md) */
    int zstd_threads;            /* zstd worker threads per tensor; 0 = in the caller */
    int keep_last;               /* after a commit keep this many of the shot; 0 = all */
    const struct ckpt_io *io;    /* NULL = plain write/fsync; not owned */
};

/* What a commit did (for logs and the benchmark). */
struct ckpt_commit_info {
    char path[4096];         /* the final file */
    uint64_t raw_bytes;      /* payload bytes before encoding */
    uint64_t file_bytes;     /* bytes written, header and table included */
    double encode_s;         /* seconds spent in put_* (compression, checksums) */
    double write_s;          /* seconds in write() */
    double sync_s;           /* seconds in fsync()/rename()/fsync(dir) */
    int pruned;              /* older checkpoints removed */
    int stale_tmp_removed;   /* leftover temporary files removed */
};

/* Fill the defaults above.  Never fails. */
void ckpt_write_opts_init(struct ckpt_write_opts *o);

/* Start a checkpoint for `meta` (copied; created_unix 0 means now).  opts
 * may be NULL for the defaults.  Returns 0 and *out (free with
 * ckpt_writer_free), DF_E_INVAL for a bad meta/opts, DF_E_NOMEM. */
int ckpt_writer_create(const struct ckpt_meta *meta, const struct ckpt_write_opts *opts,
                       ckpt_writer_t **out, struct df_err *err);

/* Free a writer (NULL is fine).  An uncommitted writer leaves no file. */
void ckpt_writer_free(ckpt_writer_t *w);

/* Add a section.  Names are unique per file (ckpt_name_check).  The data is
 * encoded and checksummed now, so the caller may reuse its buffer on return.
 * Return 0, DF_E_INVAL (bad or duplicate name, bad extents), DF_E_NOMEM, or
 * DF_E_INTERNAL when zstd fails. */
int ckpt_writer_put_i64(ckpt_writer_t *w, const char *name, int64_t v, struct df_err *err);
int ckpt_writer_put_f64(ckpt_writer_t *w, const char *name, double v, struct df_err *err);
int ckpt_writer_put_i64s(ckpt_writer_t *w, const char *name, const int64_t *v, size_t n,
                         struct df_err *err);
int ckpt_writer_put_f64s(ckpt_writer_t *w, const char *name, const double *v, size_t n,
                         struct df_err *err);
int ckpt_writer_put_bytes(ckpt_writer_t *w, const char *name, const void *p, size_t n,
                          struct df_err *err);
/* A float32 tensor of ndims (1..5) global extents, slowest first.  Floats are
 * kept bit-exact (NaN payloads, denormals, -0). */
int ckpt_writer_put_tensor(ckpt_writer_t *w, const char *name, const float *data,
                           const int64_t *extents, int ndims, struct df_err *err);

/* Write the file durably into directory `dir` (which must exist):
 *   1. write everything to "<final>.tmp-<pid>-<n>" (O_EXCL) in `dir`;
 *   2. fsync it; 3. rename it to ckpt-<shot>-<step:06d>.dfck; 4. fsync `dir`;
 *   5. only then prune: keep the newest keep_last-1 older checkpoints of the
 *      shot (never newer ones: see docs/checkpoint.md) and remove leftover
 *      temp files of the shot.
 * On failure the temp file is removed and no existing file was touched.
 * info may be NULL.  Returns 0, DF_E_IO (with errno text and the byte count
 * for a failed write), DF_E_INVAL.  A writer commits at most once. */
int ckpt_writer_commit(ckpt_writer_t *w, const char *dir, struct ckpt_commit_info *info,
                       struct df_err *err);

/* ==== reading ============================================================== */

typedef struct ckpt_reader ckpt_reader_t;

/* Open and verify `path`: header, table, every payload's checksum and the
 * whole-file checksum (payloads are not decoded until asked for).  Returns 0
 * and *out (close with ckpt_close), DF_E_IO, DF_E_NOMEM, or DF_E_CORRUPT with
 * the reason after "PATH: " -- "truncated: 1234 of 5678 bytes",
 * "checksum mismatch in section 'latent'", "unsupported format version 2 ...". */
int ckpt_open(const char *path, ckpt_reader_t **out, struct df_err *err);

/* The same over bytes in memory (borrowed: they must outlive the reader);
 * `label` starts the error messages.  For the fuzzer and the tests. */
int ckpt_open_mem(const void *buf, size_t len, const char *label, ckpt_reader_t **out,
                  struct df_err *err);

/* Decoded sizes are bounded before anything is decoded: ckpt_open refuses a
 * file whose sections together declare more than CKPT_MAX_RAW_DEFAULT raw
 * bytes (DF_E_RANGE, "sections decode to more than ..."), so a zstd frame
 * declaring gigabytes in a small file fails at open with small RSS.  A caller
 * that knows the shot's geometry passes the exact bound instead (resume: the
 * latent and its companions; see ckpt_find_latest_max).  0 = the default. */
#define CKPT_MAX_RAW_DEFAULT ((uint64_t)2 << 30)
int ckpt_open_max(const char *path, uint64_t max_raw, ckpt_reader_t **out, struct df_err *err);
int ckpt_open_mem_max(const void *buf, size_t len, const char *label, uint64_t max_raw,
                      ckpt_reader_t **out, struct df_err *err);

/* Close a reader (NULL is fine). */
void ckpt_close(ckpt_reader_t *r);

/* The header; valid until ckpt_close.  Never NULL for an open reader. */
const struct ckpt_meta *ckpt_reader_meta(const ckpt_reader_t *r);
/* Total file size in bytes. */
uint64_t ckpt_reader_file_size(const ckpt_reader_t *r);
/* Number of sections, and section i (0-based, table order); NULL past the end. */
unsigned ckpt_section_count(const ckpt_reader_t *r);
const struct ckpt_section *ckpt_section_at(const ckpt_reader_t *r, unsigned i);
/* Section by name; returns it, or NULL and DF_E_NOTFOUND in err. */
const struct ckpt_section *ckpt_section_find(const ckpt_reader_t *r, const char *name,
                                             struct df_err *err);

/* Typed getters.  Each checks the kind and the count/extents the caller
 * expects, decodes, and verifies the decoded checksum.  Return 0,
 * DF_E_NOTFOUND (no such section), DF_E_INVAL (kind or shape differs:
 * "tensor 'latent' has extents [16,21,60,104], expected [16,21,60,52]"),
 * DF_E_CORRUPT (decode or checksum failure), DF_E_NOMEM. */
int ckpt_get_i64(const ckpt_reader_t *r, const char *name, int64_t *out, struct df_err *err);
int ckpt_get_f64(const ckpt_reader_t *r, const char *name, double *out, struct df_err *err);
int ckpt_get_i64s(const ckpt_reader_t *r, const char *name, int64_t *dst, size_t n,
                  struct df_err *err);
int ckpt_get_f64s(const ckpt_reader_t *r, const char *name, double *dst, size_t n,
                  struct df_err *err);
/* Bytes into dst[cap]; *len gets the section's length (DF_E_RANGE if > cap). */
int ckpt_get_bytes(const ckpt_reader_t *r, const char *name, void *dst, size_t cap, size_t *len,
                   struct df_err *err);
int ckpt_get_tensor(const ckpt_reader_t *r, const char *name, float *dst, const int64_t *extents,
                    int ndims, struct df_err *err);

/* Decode every section and check its decoded checksum (what `ditfarm ckpt
 * inspect` does).  Returns 0 or the first getter error. */
int ckpt_verify_payloads(const ckpt_reader_t *r, struct df_err *err);

/* Does this checkpoint belong to (shot_id, shot_hash, weights_hash)?  Returns
 * 0, or DF_E_INVAL with "written for another manifest shot (hash ..., expected
 * ...)" / "written for other weights (...)" / "written for shot 'x'". */
int ckpt_check_identity(const ckpt_reader_t *r, const char *shot_id, uint64_t shot_hash,
                        uint64_t weights_hash, struct df_err *err);

/* ==== a checkpoint directory (lib/ckpt_dir.c) ============================== */

/* "ckpt-<shot>-<step:06d>.dfck" into dst[cap]; returns 0 or DF_E_RANGE. */
int ckpt_file_name(const char *shot_id, int64_t step, char *dst, size_t cap, struct df_err *err);

/* Parse a directory entry name.  Returns CKPT_NAME_FINAL or CKPT_NAME_TEMP
 * with shot id and step filled (temp: of the file it would have become), or
 * CKPT_NAME_OTHER for anything else. */
enum ckpt_name_type { CKPT_NAME_OTHER, CKPT_NAME_FINAL, CKPT_NAME_TEMP, CKPT_NAME_TYPE_COUNT };
enum ckpt_name_type ckpt_name_parse(const char *name, char shot_id[CKPT_SHOT_ID_CAP],
                                    int64_t *step);

/* The checkpoint files of a directory, newest step first per shot. */
struct ckpt_dir_entry {
    char name[256];                 /* file name inside the directory */
    char shot_id[CKPT_SHOT_ID_CAP]; /* parsed from the name */
    int64_t step;                   /* parsed from the name */
    enum ckpt_name_type type;       /* CKPT_NAME_FINAL or CKPT_NAME_TEMP */
};

/* List checkpoint and temp files of `shot_id` (NULL: every shot) in `dir`,
 * sorted by shot id, then step descending, then name.  *out is malloc'd
 * (caller frees; NULL when *n == 0).  Returns 0, DF_E_IO, DF_E_NOMEM. */
int ckpt_dir_list(const char *dir, const char *shot_id, struct ckpt_dir_entry **out, size_t *n,
                  struct df_err *err);

#define CKPT_SKIP_MAX 16
/* Why find_latest passed over newer files. */
struct ckpt_skip_report {
    int n;                    /* entries filled in `items` */
    int n_dropped;            /* skipped files beyond CKPT_SKIP_MAX */
    struct {
        char file[256];       /* file name inside the directory */
        char reason[DF_ERR_MSG_CAP]; /* "truncated: 1234 of 5678 bytes" ... */
    } items[CKPT_SKIP_MAX];
};

/* Find the newest valid checkpoint of shot_id in dir: walk its files newest
 * step first, fully verify each (ckpt_open, ckpt_check_identity, then every
 * payload decoded and its decoded checksum checked: ckpt_verify_payloads)
 * and record why each invalid one was skipped, so a resume falls back to
 * the newest checkpoint that decodes.  Temp files are never candidates.
 * skips may be NULL.  Returns 0 with the path in path[cap]; DF_E_NOTFOUND
 * when no valid one exists (start from scratch; the message counts the
 * skipped files); DF_E_IO when the directory cannot be read; DF_E_RANGE when
 * cap is too small.  Decoding holds one section at a time. */
int ckpt_find_latest(const char *dir, const char *shot_id, uint64_t shot_hash,
                     uint64_t weights_hash, char *path, size_t cap,
                     struct ckpt_skip_report *skips, struct df_err *err);

/* The same with the decoded-size bound of ckpt_open_max (0 = default). */
int ckpt_find_latest_max(const char *dir, const char *shot_id, uint64_t shot_hash,
                         uint64_t weights_hash, uint64_t max_raw, char *path, size_t cap,
                         struct ckpt_skip_report *skips, struct df_err *err);

/* Remove what a commit of (shot_id, step) makes obsolete: final files of the
 * shot with a step below `step`, except the newest keep_last-1 of them
 * (keep_last <= 0 removes none), and every temp file of the shot.  Files with
 * a step above `step` are left alone.  *pruned / *tmp_removed (may be NULL)
 * get the counts.  Returns 0 or DF_E_IO (first unlink failure). */
int ckpt_dir_prune(const char *dir, const char *shot_id, int64_t step, int keep_last,
                   int *pruned, int *tmp_removed, struct df_err *err);

#endif /* DF_CKPT_H */
