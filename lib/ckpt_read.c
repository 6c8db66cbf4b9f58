/*
 * ckpt_read.c -- open and verify a checkpoint, then decode sections on demand.
 *
 * Verification order matters for the messages: the size check comes right
 * after the header so a torn write reads "truncated: X of Y bytes" rather
 * than a checksum error; per-section checksums come before the whole-file
 * one so damage in a payload is reported by section name.
 *
 * Files are mmap'd read-only: a committed checkpoint is never modified in
 * place (ckpt_write.c renames complete files), so the mapping stays valid.
 */
#include "ckpt.h"
#include "ckpt_shuffle.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

struct ckpt_reader {
    const uint8_t *base;         /* file bytes */
    size_t len;                  /* their count */
    void *map;                   /* mmap'd region, NULL for ckpt_open_mem */
    struct ckpt_meta meta;       /* decoded header */
    struct ckpt_layout_info li;  /* where things are */
    struct ckpt_section *secs;   /* li.n_sections entries */
    uint64_t max_raw;            /* most decoded bytes (all sections) accepted */
    char label[256];             /* path or caller's label, starts messages */
};

static uint64_t get64le(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

/* The decoded sizes are the writer's word, and a zstd frame of 4-byte RLE
 * blocks turns 180 KB on disk into 4 GB in memory.  Bound their sum before
 * anything is decoded, by the caller's limit (the shot's geometry when
 * resuming, CKPT_MAX_RAW_DEFAULT otherwise), so such a file fails here at
 * once instead of after seconds of decompression and gigabytes of RSS. */
static int check_raw_total(const ckpt_reader_t *r, struct df_err *err)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < r->li.n_sections; i++)
        DF_FAIL_IF(__builtin_add_overflow(total, r->secs[i].raw_size, &total) ||
                       total > r->max_raw,
                   err, DF_E_RANGE,
                   "sections decode to more than %" PRIu64 " bytes (section '%s' alone declares "
                   "%" PRIu64 " from %" PRIu64 " stored): beyond what this shot can hold",
                   r->max_raw, r->secs[i].name, r->secs[i].raw_size, r->secs[i].stored_size);
    return 0;
}

/* Every structural check; fills r->meta, r->li, r->secs.  Messages carry no
 * label: ckpt_open_mem prefixes it. */
static int verify(ckpt_reader_t *r, struct df_err *err)
{
    const uint8_t *b = r->base;
    size_t len = r->len;
    DF_FAIL_IF(len >= 8 && memcmp(b, CKPT_MAGIC, 8) != 0, err, DF_E_CORRUPT,
               "not a ditfarm checkpoint (bad magic)");
    DF_FAIL_IF(len < CKPT_HEADER_SIZE, err, DF_E_CORRUPT,
               "truncated: %zu of at least %u bytes (incomplete header)", len, CKPT_HEADER_SIZE);
    DF_TRY(ckpt_header_unpack(b, &r->meta, &r->li, err));
    DF_FAIL_IF(len < r->li.file_size, err, DF_E_CORRUPT, "truncated: %zu of %" PRIu64 " bytes",
               len, r->li.file_size);
    DF_FAIL_IF(len > r->li.file_size, err, DF_E_CORRUPT,
               "%zu bytes, but the header says %" PRIu64 " (trailing data)", len,
               r->li.file_size);
    size_t table_n = (size_t)CKPT_ENTRY_SIZE * r->li.n_sections;
    DF_FAIL_IF(ckpt_hash(b + CKPT_HEADER_SIZE, table_n) != r->li.table_cksum, err, DF_E_CORRUPT,
               "checksum mismatch in section table");

    r->secs = calloc(r->li.n_sections ? r->li.n_sections : 1, sizeof(*r->secs));
    if (!r->secs)
        return df_err_set(err, DF_E_NOMEM, "out of memory");
    uint64_t off = r->li.data_offset, end = r->li.file_size - CKPT_TRAILER_SIZE;
    for (unsigned i = 0; i < r->li.n_sections; i++) {
        struct ckpt_section *s = &r->secs[i];
        DF_TRY(ckpt_entry_unpack(b + CKPT_HEADER_SIZE + (size_t)CKPT_ENTRY_SIZE * i, i, s, err));
        DF_FAIL_IF(s->offset != off || s->stored_size > end - off, err, DF_E_CORRUPT,
                   "section '%s': payload [%" PRIu64 ", +%" PRIu64 ") is not where the table "
                   "says (expected offset %" PRIu64 ", data ends at %" PRIu64 ")",
                   s->name, s->offset, s->stored_size, off, end);
        off += s->stored_size;
        for (unsigned j = 0; j < i; j++)
            DF_FAIL_IF(strcmp(r->secs[j].name, s->name) == 0, err, DF_E_CORRUPT,
                       "section '%s' appears twice", s->name);
    }
    DF_FAIL_IF(off != end, err, DF_E_CORRUPT,
               "payloads end at %" PRIu64 " but the trailer starts at %" PRIu64, off, end);
    DF_TRY(check_raw_total(r, err));
    for (unsigned i = 0; i < r->li.n_sections; i++) {
        const struct ckpt_section *s = &r->secs[i];
        DF_FAIL_IF(ckpt_hash(b + s->offset, (size_t)s->stored_size) != s->stored_cksum, err,
                   DF_E_CORRUPT, "checksum mismatch in section '%s'", s->name);
        if (s->encoding != CKPT_ENCODING_NONE) {
            unsigned long long fcs = ZSTD_getFrameContentSize(b + s->offset, s->stored_size);
            DF_FAIL_IF(fcs != s->raw_size, err, DF_E_CORRUPT,
                       "section '%s': zstd frame does not declare the raw size %" PRIu64,
                       s->name, s->raw_size);
        }
    }
    DF_FAIL_IF(memcmp(b + end + 8, CKPT_END_MAGIC, 8) != 0, err, DF_E_CORRUPT,
               "bad end marker (torn or overwritten trailer)");
    DF_FAIL_IF(ckpt_hash(b, (size_t)end) != get64le(b + end), err, DF_E_CORRUPT,
               "checksum mismatch over the whole file");
    return 0;
}

int ckpt_open_mem(const void *buf, size_t len, const char *label, ckpt_reader_t **out,
                  struct df_err *err)
{
    return ckpt_open_mem_max(buf, len, label, CKPT_MAX_RAW_DEFAULT, out, err);
}

int ckpt_open_mem_max(const void *buf, size_t len, const char *label, uint64_t max_raw,
                      ckpt_reader_t **out, struct df_err *err)
{
    *out = NULL;
    ckpt_reader_t *r = calloc(1, sizeof(*r));
    if (!r)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", label);
    r->base = buf;
    r->len = len;
    r->max_raw = max_raw ? max_raw : CKPT_MAX_RAW_DEFAULT;
    snprintf(r->label, sizeof(r->label), "%s", label);
    int rc = verify(r, err);
    if (rc < 0) {
        df_err_prefix(err, "%s", label);
        ckpt_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

int ckpt_open(const char *path, ckpt_reader_t **out, struct df_err *err)
{
    return ckpt_open_max(path, CKPT_MAX_RAW_DEFAULT, out, err);
}

int ckpt_open_max(const char *path, uint64_t max_raw, ckpt_reader_t **out, struct df_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return df_err_errno(err, errno == ENOENT ? DF_E_NOTFOUND : DF_E_IO, "open %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int rc = df_err_errno(err, DF_E_IO, "stat %s", path);
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return df_err_set(err, DF_E_IO, "%s: not a regular file", path);
    }
    void *map = NULL;
    size_t len = (size_t)st.st_size;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int rc = df_err_errno(err, DF_E_IO, "mmap %s", path);
            close(fd);
            return rc;
        }
        madvise(map, len, MADV_SEQUENTIAL);
    }
    close(fd);
    static const uint8_t empty[1];
    int rc = ckpt_open_mem_max(map ? map : empty, len, path, max_raw, out, err);
    if (rc < 0) {
        if (map)
            munmap(map, len);
        return rc;
    }
    (*out)->map = map;
    return 0;
}

void ckpt_close(ckpt_reader_t *r)
{
    if (!r)
        return;
    if (r->map)
        munmap(r->map, r->len);
    free(r->secs);
    free(r);
}

const struct ckpt_meta *ckpt_reader_meta(const ckpt_reader_t *r)
{
    return &r->meta;
}

uint64_t ckpt_reader_file_size(const ckpt_reader_t *r)
{
    return r->li.file_size;
}

unsigned ckpt_section_count(const ckpt_reader_t *r)
{
    return r->li.n_sections;
}

const struct ckpt_section *ckpt_section_at(const ckpt_reader_t *r, unsigned i)
{
    return i < r->li.n_sections ? &r->secs[i] : NULL;
}

const struct ckpt_section *ckpt_section_find(const ckpt_reader_t *r, const char *name,
                                             struct df_err *err)
{
    for (unsigned i = 0; i < r->li.n_sections; i++)
        if (strcmp(r->secs[i].name, name) == 0)
            return &r->secs[i];
    df_err_set(err, DF_E_NOTFOUND, "%s: no section '%s'", r->label, name);
    return NULL;
}

/* ---- decoding -------------------------------------------------------------- */

/* Decode s into dst[s->raw_size] and check the raw checksum. */
static int decode(const ckpt_reader_t *r, const struct ckpt_section *s, void *dst,
                  struct df_err *err)
{
    const uint8_t *src = r->base + s->offset;
    size_t raw = (size_t)s->raw_size, stored = (size_t)s->stored_size;
    if (s->encoding == CKPT_ENCODING_NONE) {
        if (raw)
            memcpy(dst, src, raw);
    } else {
        uint8_t *tmp = NULL;
        void *zdst = dst;
        if (s->encoding == CKPT_ENCODING_SHUFFLE_ZSTD) {
            tmp = malloc(raw ? raw : 1);
            if (!tmp)
                return df_err_set(err, DF_E_NOMEM, "%s: section '%s': out of memory (%zu bytes)",
                                  r->label, s->name, raw);
            zdst = tmp;
        }
        size_t got = ZSTD_decompress(zdst, raw, src, stored);
        if (ZSTD_isError(got) || got != raw) {
            free(tmp);
            return df_err_set(err, DF_E_CORRUPT, "%s: section '%s': zstd: %s", r->label, s->name,
                              ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame");
        }
        if (tmp) {
            size_t elem = ckpt_kind_size(s->kind);
            ckpt_unshuffle(dst, tmp, raw / elem, elem);
            free(tmp);
        }
    }
    DF_FAIL_IF(ckpt_hash(dst, raw) != s->raw_cksum, err, DF_E_CORRUPT,
               "%s: checksum mismatch in decoded section '%s'", r->label, s->name);
    return 0;
}

/* Find `name` into *out and check its kind and (except for tensors) its
 * element count. */
static int typed(const ckpt_reader_t *r, const char *name, enum ckpt_kind kind, size_t count,
                 const struct ckpt_section **out, struct df_err *err)
{
    const struct ckpt_section *s = ckpt_section_find(r, name, err);
    if (!s)
        return DF_E_NOTFOUND;
    DF_FAIL_IF(s->kind != kind, err, DF_E_INVAL, "%s: section '%s' holds %s, expected %s",
               r->label, name, ckpt_kind_name(s->kind), ckpt_kind_name(kind));
    uint64_t have = s->raw_size / ckpt_kind_size(kind);
    DF_FAIL_IF(kind != CKPT_KIND_F32 && have != count, err, DF_E_INVAL,
               "%s: section '%s' holds %" PRIu64 " values, expected %zu", r->label, name, have,
               count);
    *out = s;
    return 0;
}

int ckpt_get_i64s(const ckpt_reader_t *r, const char *name, int64_t *dst, size_t n,
                  struct df_err *err)
{
    const struct ckpt_section *s;
    DF_TRY(typed(r, name, CKPT_KIND_I64, n, &s, err));
    return decode(r, s, dst, err);
}

int ckpt_get_f64s(const ckpt_reader_t *r, const char *name, double *dst, size_t n,
                  struct df_err *err)
{
    const struct ckpt_section *s;
    DF_TRY(typed(r, name, CKPT_KIND_F64, n, &s, err));
    return decode(r, s, dst, err);
}

int ckpt_get_i64(const ckpt_reader_t *r, const char *name, int64_t *out, struct df_err *err)
{
    return ckpt_get_i64s(r, name, out, 1, err);
}

int ckpt_get_f64(const ckpt_reader_t *r, const char *name, double *out, struct df_err *err)
{
    return ckpt_get_f64s(r, name, out, 1, err);
}

int ckpt_get_bytes(const ckpt_reader_t *r, const char *name, void *dst, size_t cap, size_t *len,
                   struct df_err *err)
{
    const struct ckpt_section *s = ckpt_section_find(r, name, err);
    if (!s)
        return DF_E_NOTFOUND;
    DF_FAIL_IF(s->kind != CKPT_KIND_BYTES, err, DF_E_INVAL,
               "%s: section '%s' holds %s, expected bytes", r->label, name,
               ckpt_kind_name(s->kind));
    *len = (size_t)s->raw_size;
    DF_FAIL_IF(s->raw_size > cap, err, DF_E_RANGE,
               "%s: section '%s' holds %" PRIu64 " bytes, buffer has %zu", r->label, name,
               s->raw_size, cap);
    return decode(r, s, dst, err);
}

static void format_extents(char *dst, size_t cap, const uint64_t *e, int n)
{
    size_t at = 0;
    at += (size_t)snprintf(dst, cap, "[");
    for (int d = 0; d < n && at < cap; d++)
        at += (size_t)snprintf(dst + at, cap - at, "%s%" PRIu64, d ? "," : "", e[d]);
    if (at < cap)
        snprintf(dst + at, cap - at, "]");
}

int ckpt_get_tensor(const ckpt_reader_t *r, const char *name, float *dst, const int64_t *extents,
                    int ndims, struct df_err *err)
{
    const struct ckpt_section *s;
    DF_TRY(typed(r, name, CKPT_KIND_F32, 0, &s, err));
    int same = ndims == s->ndims;
    uint64_t want[CKPT_MAX_DIMS] = {0};
    for (int d = 0; d < ndims && d < CKPT_MAX_DIMS; d++) {
        want[d] = extents[d] < 0 ? UINT64_MAX : (uint64_t)extents[d];
        same = same && want[d] == s->extents[d];
    }
    if (!same) {
        char have_s[128], want_s[128];
        format_extents(have_s, sizeof(have_s), s->extents, s->ndims);
        format_extents(want_s, sizeof(want_s), want, ndims < CKPT_MAX_DIMS ? ndims : CKPT_MAX_DIMS);
        return df_err_set(err, DF_E_INVAL, "%s: tensor '%s' has extents %s, expected %s",
                          r->label, name, have_s, want_s);
    }
    return decode(r, s, dst, err);
}

int ckpt_verify_payloads(const ckpt_reader_t *r, struct df_err *err)
{
    for (unsigned i = 0; i < r->li.n_sections; i++) {
        const struct ckpt_section *s = &r->secs[i];
        void *buf = malloc(s->raw_size ? (size_t)s->raw_size : 1);
        if (!buf)
            return df_err_set(err, DF_E_NOMEM, "%s: section '%s': out of memory", r->label,
                              s->name);
        int rc = decode(r, s, buf, err);
        free(buf);
        DF_TRY(rc);
    }
    return 0;
}

int ckpt_check_identity(const ckpt_reader_t *r, const char *shot_id, uint64_t shot_hash,
                        uint64_t weights_hash, struct df_err *err)
{
    const struct ckpt_meta *m = &r->meta;
    DF_FAIL_IF(strcmp(m->shot_id, shot_id) != 0, err, DF_E_INVAL,
               "written for shot '%s', not '%s'", m->shot_id, shot_id);
    DF_FAIL_IF(m->shot_hash != shot_hash, err, DF_E_INVAL,
               "written for another manifest shot (hash %016" PRIx64 ", expected %016" PRIx64 ")",
               m->shot_hash, shot_hash);
    DF_FAIL_IF(m->weights_hash != weights_hash, err, DF_E_INVAL,
               "written for other weights (hash %016" PRIx64 ", expected %016" PRIx64 ")",
               m->weights_hash, weights_hash);
    return 0;
}
