/*
 * ckpt_write.c -- build a checkpoint in memory, then write it durably.
 *
 * Sections are encoded (shuffle, zstd, checksums) as they are put, so the
 * caller's buffers are free at once and commit is pure I/O.  Commit follows
 * the protocol whose invariants are:
 *   I1. The final name only ever refers to a complete, fsync'd file: data is
 *       written under a temp name, fsync'd, then rename()d (atomic), and the
 *       directory is fsync'd so the rename itself survives a crash.
 *   I2. Nothing older is removed before I1 completed for the new file.
 *   I3. A failed commit removes its temp file and touches nothing else.
 * A crash (kill -9, node loss) between the steps leaves at worst a temp file,
 * which readers never consider and the next commit of the shot removes.
 */
#include "ckpt.h"
#include "clock.h"
#include "ckpt_shuffle.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

/* Sections smaller than this are stored as is: zstd cannot win much there. */
#define SMALL_SECTION_BYTES 4096u
/* write() granularity: bounds one syscall and lets the I/O hook see progress. */
#define WRITE_CHUNK ((size_t)8 << 20)

struct wsection {
    struct ckpt_section s; /* offset is filled at commit */
    uint8_t *stored;       /* stored bytes, owned */
};

struct ckpt_writer {
    struct ckpt_meta meta;         /* header to write */
    struct ckpt_write_opts opts;   /* as given, defaults filled */
    struct wsection *secs;         /* sections in put order */
    unsigned n_secs, cap_secs;
    ZSTD_CCtx *cctx;               /* reused across sections */
    uint8_t *scratch;              /* shuffle buffer, reused */
    size_t scratch_cap;
    double encode_s;               /* time spent in put_* */
    int committed;                 /* a writer commits once */
};

void ckpt_write_opts_init(struct ckpt_write_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->encoding = CKPT_ENCODING_SHUFFLE_ZSTD;
    o->zstd_level = 1; /* level 3 compressed no better and 1.6-3x slower: bench/RESULTS.md */
}

int ckpt_writer_create(const struct ckpt_meta *meta, const struct ckpt_write_opts *opts,
                       ckpt_writer_t **out, struct df_err *err)
{
    *out = NULL;
    DF_TRY(ckpt_meta_check(meta, err));
    struct ckpt_write_opts o;
    if (opts)
        o = *opts;
    else
        ckpt_write_opts_init(&o);
    DF_FAIL_IF((unsigned)o.encoding >= CKPT_ENCODING_COUNT, err, DF_E_INVAL,
               "checkpoint encoding %d is out of range", (int)o.encoding);
    DF_FAIL_IF(o.zstd_level < ZSTD_minCLevel() || o.zstd_level > ZSTD_maxCLevel(), err,
               DF_E_INVAL, "zstd level %d is out of range [%d, %d]", o.zstd_level,
               ZSTD_minCLevel(), ZSTD_maxCLevel());
    DF_FAIL_IF(o.zstd_threads < 0 || o.zstd_threads > 256 || o.keep_last < 0, err, DF_E_INVAL,
               "zstd_threads %d / keep_last %d out of range", o.zstd_threads, o.keep_last);

    ckpt_writer_t *w = calloc(1, sizeof(*w));
    if (!w)
        return df_err_set(err, DF_E_NOMEM, "checkpoint writer: out of memory");
    w->meta = *meta;
    w->opts = o;
    if (w->meta.created_unix == 0)
        w->meta.created_unix = (int64_t)time(NULL);
    w->cctx = ZSTD_createCCtx();
    if (!w->cctx)
        goto fail;
    size_t rc = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, o.zstd_level);
    if (!ZSTD_isError(rc))
        rc = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 0); /* we hash ourselves */
    if (!ZSTD_isError(rc) && o.zstd_threads > 0)
        rc = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_nbWorkers, o.zstd_threads);
    if (ZSTD_isError(rc)) {
        ckpt_writer_free(w);
        return df_err_set(err, DF_E_UNSUPPORTED, "zstd: %s (zstd_threads %d)",
                          ZSTD_getErrorName(rc), o.zstd_threads);
    }
    *out = w;
    return 0;
fail:
    ckpt_writer_free(w);
    return df_err_set(err, DF_E_NOMEM, "checkpoint writer: out of memory");
}

void ckpt_writer_free(ckpt_writer_t *w)
{
    if (!w)
        return;
    for (unsigned i = 0; i < w->n_secs; i++)
        free(w->secs[i].stored);
    free(w->secs);
    free(w->scratch);
    ZSTD_freeCCtx(w->cctx);
    free(w);
}

/* ---- encoding -------------------------------------------------------------- */

/* Compress src[n] into a fresh buffer, returned in out and out_n. */
static int zstd_encode(ckpt_writer_t *w, const char *name, const void *src, size_t n,
                       uint8_t **out, size_t *out_n, struct df_err *err)
{
    size_t cap = ZSTD_compressBound(n);
    uint8_t *dst = malloc(cap ? cap : 1);
    if (!dst)
        return df_err_set(err, DF_E_NOMEM, "section '%s': out of memory (%zu bytes)", name, cap);
    size_t got = ZSTD_compress2(w->cctx, dst, cap, src, n);
    if (ZSTD_isError(got)) {
        free(dst);
        return df_err_set(err, DF_E_INTERNAL, "section '%s': zstd: %s", name,
                          ZSTD_getErrorName(got));
    }
    uint8_t *shrunk = realloc(dst, got ? got : 1); /* give back the bound's slack */
    *out = shrunk ? shrunk : dst;
    *out_n = got;
    return 0;
}

static int add_section(ckpt_writer_t *w, const char *name, enum ckpt_kind kind,
                       enum ckpt_encoding enc, const uint64_t *extents, int ndims,
                       const void *data, size_t raw, struct df_err *err)
{
    double t0 = df_clock_s();
    DF_FAIL_IF(w->committed, err, DF_E_INVAL, "section '%s': writer already committed", name);
    DF_TRY(ckpt_name_check(name, err));
    for (unsigned i = 0; i < w->n_secs; i++)
        DF_FAIL_IF(strcmp(w->secs[i].s.name, name) == 0, err, DF_E_INVAL,
                   "section '%s' is already in this checkpoint", name);
    DF_FAIL_IF(w->n_secs >= CKPT_MAX_SECTIONS, err, DF_E_RANGE,
               "section '%s': a checkpoint holds at most %u sections", name, CKPT_MAX_SECTIONS);
    if (w->n_secs == w->cap_secs) {
        unsigned cap = w->cap_secs ? 2 * w->cap_secs : 16;
        struct wsection *p = realloc(w->secs, cap * sizeof(*p));
        if (!p)
            return df_err_set(err, DF_E_NOMEM, "section '%s': out of memory", name);
        w->secs = p;
        w->cap_secs = cap;
    }
    struct wsection ws = {0};
    snprintf(ws.s.name, sizeof(ws.s.name), "%s", name);
    ws.s.kind = kind;
    ws.s.ndims = ndims;
    for (int d = 0; d < ndims; d++)
        ws.s.extents[d] = extents[d];
    ws.s.raw_size = raw;
    ws.s.raw_cksum = ckpt_hash(data, raw);
    if (raw < SMALL_SECTION_BYTES)
        enc = CKPT_ENCODING_NONE;

    size_t stored_n = raw;
    if (enc == CKPT_ENCODING_SHUFFLE_ZSTD && ckpt_kind_size(kind) > 1) {
        if (w->scratch_cap < raw) {
            uint8_t *p = realloc(w->scratch, raw);
            if (!p)
                return df_err_set(err, DF_E_NOMEM, "section '%s': out of memory (%zu bytes)",
                                  name, raw);
            w->scratch = p;
            w->scratch_cap = raw;
        }
        ckpt_shuffle(w->scratch, data, raw / ckpt_kind_size(kind), ckpt_kind_size(kind));
        DF_TRY(zstd_encode(w, name, w->scratch, raw, &ws.stored, &stored_n, err));
    } else if (enc != CKPT_ENCODING_NONE) {
        enc = CKPT_ENCODING_ZSTD; /* shuffling bytes of 1-byte elements is the identity */
        DF_TRY(zstd_encode(w, name, data, raw, &ws.stored, &stored_n, err));
    }
    if (enc != CKPT_ENCODING_NONE && stored_n >= raw) {
        /* Incompressible: storing raw costs nothing and reads faster. */
        free(ws.stored);
        ws.stored = NULL;
        enc = CKPT_ENCODING_NONE;
    }
    if (enc == CKPT_ENCODING_NONE) {
        ws.stored = malloc(raw ? raw : 1);
        if (!ws.stored)
            return df_err_set(err, DF_E_NOMEM, "section '%s': out of memory (%zu bytes)", name,
                              raw);
        if (raw)
            memcpy(ws.stored, data, raw);
        stored_n = raw;
    }
    ws.s.encoding = enc;
    ws.s.stored_size = stored_n;
    ws.s.stored_cksum = ckpt_hash(ws.stored, stored_n);
    w->secs[w->n_secs++] = ws;
    w->encode_s += df_clock_s() - t0;
    return 0;
}

static int put_array(ckpt_writer_t *w, const char *name, enum ckpt_kind kind, const void *v,
                     size_t n, struct df_err *err)
{
    uint64_t ext = n;
    DF_FAIL_IF(n > SIZE_MAX / 8, err, DF_E_RANGE, "section '%s': %zu values is too many", name,
               n);
    return add_section(w, name, kind, CKPT_ENCODING_ZSTD, &ext, 1, v, n * ckpt_kind_size(kind),
                       err);
}

int ckpt_writer_put_i64(ckpt_writer_t *w, const char *name, int64_t v, struct df_err *err)
{
    return put_array(w, name, CKPT_KIND_I64, &v, 1, err);
}

int ckpt_writer_put_f64(ckpt_writer_t *w, const char *name, double v, struct df_err *err)
{
    return put_array(w, name, CKPT_KIND_F64, &v, 1, err);
}

int ckpt_writer_put_i64s(ckpt_writer_t *w, const char *name, const int64_t *v, size_t n,
                         struct df_err *err)
{
    return put_array(w, name, CKPT_KIND_I64, v, n, err);
}

int ckpt_writer_put_f64s(ckpt_writer_t *w, const char *name, const double *v, size_t n,
                         struct df_err *err)
{
    return put_array(w, name, CKPT_KIND_F64, v, n, err);
}

int ckpt_writer_put_bytes(ckpt_writer_t *w, const char *name, const void *p, size_t n,
                          struct df_err *err)
{
    return put_array(w, name, CKPT_KIND_BYTES, p, n, err);
}

int ckpt_writer_put_tensor(ckpt_writer_t *w, const char *name, const float *data,
                           const int64_t *extents, int ndims, struct df_err *err)
{
    DF_FAIL_IF(ndims < 1 || ndims > CKPT_MAX_DIMS, err, DF_E_INVAL,
               "tensor '%s': %d dimensions (1..%d)", name, ndims, CKPT_MAX_DIMS);
    uint64_t ext[CKPT_MAX_DIMS] = {0};
    size_t count = 1;
    for (int d = 0; d < ndims; d++) {
        DF_FAIL_IF(extents[d] < 0, err, DF_E_INVAL, "tensor '%s': extent %d is negative (%" PRId64
                   ")", name, d, extents[d]);
        ext[d] = (uint64_t)extents[d];
        DF_FAIL_IF(ext[d] && count > SIZE_MAX / 4 / ext[d], err, DF_E_RANGE,
                   "tensor '%s': too large", name);
        count *= (size_t)ext[d];
    }
    DF_FAIL_IF(count && !data, err, DF_E_INVAL, "tensor '%s': no data", name);
    return add_section(w, name, CKPT_KIND_F32, w->opts.encoding, ext, ndims, data, count * 4,
                       err);
}

/* ---- commit ---------------------------------------------------------------- */

struct out_file {
    int fd;
    const char *path;          /* temp path, for messages */
    const struct ckpt_io *io;  /* may be NULL */
    uint64_t done, total;      /* bytes written / planned */
    XXH3_state_t *hash;        /* running whole-file checksum */
};

static int write_all(struct out_file *f, const void *buf, size_t len, struct df_err *err)
{
    const uint8_t *p = buf;
    while (len > 0) {
        size_t n = len < WRITE_CHUNK ? len : WRITE_CHUNK;
        ssize_t got = f->io && f->io->write ? f->io->write(f->io->ctx, f->fd, p, n)
                                            : write(f->fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got == 0)
                errno = EIO;
            return df_err_errno(err, DF_E_IO, "write %s after %" PRIu64 " of %" PRIu64 " bytes",
                                f->path, f->done, f->total);
        }
        if (f->hash)
            XXH3_64bits_update(f->hash, p, (size_t)got);
        p += got;
        len -= (size_t)got;
        f->done += (uint64_t)got;
    }
    return 0;
}

static int do_fsync(const struct ckpt_io *io, int fd)
{
    return io && io->fsync ? io->fsync(io->ctx, fd) : fsync(fd);
}

/* Header, table, payloads, trailer.  Offsets are fixed here. */
static int write_body(ckpt_writer_t *w, struct out_file *f, struct df_err *err)
{
    struct ckpt_layout_info li = {.version = CKPT_FORMAT_VERSION, .n_sections = w->n_secs};
    li.data_offset = CKPT_HEADER_SIZE + (uint64_t)CKPT_ENTRY_SIZE * w->n_secs;
    uint64_t off = li.data_offset;
    size_t table_n = (size_t)CKPT_ENTRY_SIZE * w->n_secs;
    uint8_t *table = malloc(table_n ? table_n : 1);
    if (!table)
        return df_err_set(err, DF_E_NOMEM, "checkpoint table: out of memory");
    for (unsigned i = 0; i < w->n_secs; i++) {
        w->secs[i].s.offset = off;
        off += w->secs[i].s.stored_size;
        ckpt_entry_pack(table + (size_t)CKPT_ENTRY_SIZE * i, &w->secs[i].s);
    }
    li.file_size = off + CKPT_TRAILER_SIZE;
    li.table_cksum = ckpt_hash(table, table_n);
    uint8_t header[CKPT_HEADER_SIZE];
    ckpt_header_pack(header, &w->meta, &li);
    f->total = li.file_size;

    int rc = write_all(f, header, sizeof(header), err);
    if (rc == 0)
        rc = write_all(f, table, table_n, err);
    free(table);
    for (unsigned i = 0; rc == 0 && i < w->n_secs; i++)
        rc = write_all(f, w->secs[i].stored, w->secs[i].s.stored_size, err);
    if (rc == 0) {
        uint8_t trailer[CKPT_TRAILER_SIZE];
        uint64_t sum = XXH3_64bits_digest(f->hash);
        for (int b = 0; b < 8; b++)
            trailer[b] = (uint8_t)(sum >> (8 * b));
        memcpy(trailer + 8, CKPT_END_MAGIC, 8);
        f->hash = NULL; /* the trailer is not part of its own checksum */
        rc = write_all(f, trailer, sizeof(trailer), err);
    }
    return rc;
}

static int fsync_dir(const char *dir, struct df_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return df_err_errno(err, DF_E_IO, "open directory %s for fsync", dir);
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc < 0 ? df_err_errno(err, DF_E_IO, "fsync directory %s", dir) : 0;
}

int ckpt_writer_commit(ckpt_writer_t *w, const char *dir, struct ckpt_commit_info *info,
                       struct df_err *err)
{
    DF_FAIL_IF(w->committed, err, DF_E_INVAL, "checkpoint writer already committed");
    char name[256], final_path[4096], tmp_path[4096 + 64];
    DF_TRY(ckpt_file_name(w->meta.shot_id, w->meta.step, name, sizeof(name), err));
    int n = snprintf(final_path, sizeof(final_path), "%s/%s", dir, name);
    DF_FAIL_IF(n < 0 || (size_t)n >= sizeof(final_path), err, DF_E_RANGE,
               "checkpoint path in '%s' is too long", dir);
    /* pid + a clock reading: unique even for two writers of one process. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(tmp_path, sizeof(tmp_path), "%s.tmp-%ld-%ld%09ld", final_path, (long)getpid(),
             (long)ts.tv_sec, (long)ts.tv_nsec);

    double t0 = df_clock_s();
    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return df_err_errno(err, DF_E_IO, "create %s", tmp_path);
    XXH3_state_t *hash = XXH3_createState();
    if (!hash) {
        close(fd);
        unlink(tmp_path);
        return df_err_set(err, DF_E_NOMEM, "checkpoint: out of memory");
    }
    XXH3_64bits_reset(hash);
    struct out_file f = {.fd = fd, .path = tmp_path, .io = w->opts.io, .hash = hash};
    int rc = write_body(w, &f, err);
    XXH3_freeState(hash);
    double t1 = df_clock_s();
    if (rc == 0 && do_fsync(w->opts.io, fd) < 0)
        rc = df_err_errno(err, DF_E_IO, "fsync %s", tmp_path);
    if (close(fd) < 0 && rc == 0) /* NFS reports write errors at close */
        rc = df_err_errno(err, DF_E_IO, "close %s", tmp_path);
    if (rc == 0 && rename(tmp_path, final_path) < 0)
        rc = df_err_errno(err, DF_E_IO, "rename %s to %s", tmp_path, name);
    if (rc < 0) {
        unlink(tmp_path); /* I3 */
        return rc;
    }
    w->committed = 1;
    DF_TRY(fsync_dir(dir, err)); /* I1: the rename is durable only now */
    double t2 = df_clock_s();

    int pruned = 0, tmp_removed = 0;
    rc = ckpt_dir_prune(dir, w->meta.shot_id, w->meta.step, w->opts.keep_last, &pruned,
                        &tmp_removed, err);
    if (info) {
        memset(info, 0, sizeof(*info));
        snprintf(info->path, sizeof(info->path), "%s", final_path);
        for (unsigned i = 0; i < w->n_secs; i++)
            info->raw_bytes += w->secs[i].s.raw_size;
        info->file_bytes = f.done;
        info->encode_s = w->encode_s;
        info->write_s = t1 - t0;
        info->sync_s = t2 - t1;
        info->pruned = pruned;
        info->stale_tmp_removed = tmp_removed;
    }
    if (rc < 0)
        df_err_prefix(err, "checkpoint %s is durable, but pruning failed", name);
    return rc;
}
