/* ckpt_format.c -- pack/unpack the checkpoint header and table (layout in
 * ckpt_format.h).  Every field is written at its documented offset with an
 * explicit little-endian store; unpacking checks each field, so the reader
 * never trusts a size or offset it has not bounded. */
#include "ckpt_format.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

static const char *const k_kind_names[] = {"i64", "f64", "bytes", "f32"};
_Static_assert(sizeof(k_kind_names) / sizeof(k_kind_names[0]) == CKPT_KIND_COUNT,
               "every ckpt_kind needs a name");
static const size_t k_kind_sizes[] = {8, 8, 1, 4};
_Static_assert(sizeof(k_kind_sizes) / sizeof(k_kind_sizes[0]) == CKPT_KIND_COUNT,
               "every ckpt_kind needs a size");
static const char *const k_encoding_names[] = {"none", "zstd", "shuffle+zstd"};
_Static_assert(sizeof(k_encoding_names) / sizeof(k_encoding_names[0]) == CKPT_ENCODING_COUNT,
               "every ckpt_encoding needs a name");

const char *ckpt_kind_name(enum ckpt_kind k)
{
    return (unsigned)k < CKPT_KIND_COUNT ? k_kind_names[k] : "?";
}

size_t ckpt_kind_size(enum ckpt_kind k)
{
    return (unsigned)k < CKPT_KIND_COUNT ? k_kind_sizes[k] : 0;
}

const char *ckpt_encoding_name(enum ckpt_encoding e)
{
    return (unsigned)e < CKPT_ENCODING_COUNT ? k_encoding_names[e] : "?";
}

int ckpt_encoding_from_name(const char *name, enum ckpt_encoding *out, struct df_err *err)
{
    for (int i = 0; i < CKPT_ENCODING_COUNT; i++)
        if (strcmp(name, k_encoding_names[i]) == 0) {
            *out = (enum ckpt_encoding)i;
            return 0;
        }
    return df_err_set(err, DF_E_INVAL, "unknown checkpoint encoding '%s' (none, zstd, shuffle+zstd)",
                      name);
}

uint64_t ckpt_hash(const void *p, size_t len)
{
    return XXH3_64bits(p, len);
}

/* ---- little-endian field access ------------------------------------------ */

static void put32(uint8_t *b, size_t off, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[off + (size_t)i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *b, size_t off, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[off + (size_t)i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *b, size_t off)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | b[off + (size_t)i];
    return v;
}

static uint64_t get64(const uint8_t *b, size_t off)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[off + (size_t)i];
    return v;
}

static int all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* ---- checks shared by writer and reader ---------------------------------- */

/* A writer-side INVAL check failing on read means the file is bad. */
static int as_corrupt(struct df_err *err)
{
    if (err)
        err->code = DF_E_CORRUPT;
    return DF_E_CORRUPT;
}

static int shot_id_check(const char *id, size_t cap, struct df_err *err)
{
    size_t n = strnlen(id, cap);
    DF_FAIL_IF(n == 0, err, DF_E_INVAL, "shot id is empty");
    DF_FAIL_IF(n == cap, err, DF_E_INVAL, "shot id is longer than %zu characters", cap - 1);
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        /* The id becomes part of a file name: no slash, no leading dot. */
        DF_FAIL_IF(!ok || (i == 0 && c == '.'), err, DF_E_INVAL,
                   "shot id '%.*s': character %zu (0x%02x) is not one of [A-Za-z0-9._-]", (int)n,
                   id, i + 1, (unsigned)(unsigned char)c);
    }
    return 0;
}

int ckpt_meta_check(const struct ckpt_meta *m, struct df_err *err)
{
    DF_TRY(shot_id_check(m->shot_id, sizeof(m->shot_id), err));
    DF_FAIL_IF(m->step < 0 || m->total_steps < 0 || m->step > m->total_steps, err, DF_E_INVAL,
               "step %" PRId64 " of %" PRId64 " is out of range", m->step, m->total_steps);
    DF_FAIL_IF(m->layout_cfg < 1 || m->layout_ulysses < 1 || m->layout_ring < 1, err, DF_E_INVAL,
               "layout degrees must be >= 1 (cfg %" PRIu32 " ulysses %" PRIu32 " ring %" PRIu32 ")",
               m->layout_cfg, m->layout_ulysses, m->layout_ring);
    uint64_t prod = (uint64_t)m->layout_cfg * m->layout_ulysses * m->layout_ring;
    DF_FAIL_IF(prod != m->layout_world, err, DF_E_INVAL,
               "layout world %" PRIu32 " != cfg %" PRIu32 " x ulysses %" PRIu32 " x ring %" PRIu32,
               m->layout_world, m->layout_cfg, m->layout_ulysses, m->layout_ring);
    DF_FAIL_IF(m->flags & ~CKPT_FLAGS_KNOWN, err, DF_E_INVAL, "unknown flags 0x%" PRIx32,
               m->flags & ~CKPT_FLAGS_KNOWN);
    return 0;
}

int ckpt_name_check(const char *name, struct df_err *err)
{
    size_t n = strnlen(name, CKPT_NAME_CAP);
    DF_FAIL_IF(n == 0, err, DF_E_INVAL, "section name is empty");
    DF_FAIL_IF(n == CKPT_NAME_CAP, err, DF_E_INVAL, "section name '%.47s...' is longer than %d",
               name, CKPT_NAME_CAP - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        /* Printable and quote-free, so messages can quote it unambiguously. */
        DF_FAIL_IF(c < 0x21 || c > 0x7e || c == '\'' || c == '"' || c == '\\', err, DF_E_INVAL,
                   "section name: byte %zu (0x%02x) is not printable ASCII", i + 1, c);
    }
    return 0;
}

/* ---- header --------------------------------------------------------------- */

void ckpt_header_pack(uint8_t *b, const struct ckpt_meta *m, const struct ckpt_layout_info *li)
{
    memset(b, 0, CKPT_HEADER_SIZE);
    memcpy(b, CKPT_MAGIC, 8);
    put32(b, 8, CKPT_FORMAT_VERSION);
    put32(b, 12, m->flags);
    put32(b, 16, CKPT_HEADER_SIZE);
    put32(b, 20, li->n_sections);
    put32(b, 24, CKPT_ENTRY_SIZE);
    put64(b, 32, li->file_size);
    put64(b, 40, CKPT_HEADER_SIZE);
    put64(b, 48, li->data_offset);
    put64(b, 56, li->table_cksum);
    put64(b, 64, m->shot_hash);
    put64(b, 72, m->weights_hash);
    put64(b, 80, (uint64_t)m->step);
    put64(b, 88, (uint64_t)m->total_steps);
    put64(b, 96, m->seed);
    put64(b, 104, (uint64_t)m->created_unix);
    put32(b, 112, m->layout_cfg);
    put32(b, 116, m->layout_ulysses);
    put32(b, 120, m->layout_ring);
    put32(b, 124, m->layout_world);
    memcpy(b + 128, m->shot_id, strnlen(m->shot_id, CKPT_SHOT_ID_CAP - 1));
    put64(b, CKPT_HEADER_CKSUM_OFF, ckpt_hash(b, CKPT_HEADER_CKSUM_OFF));
}

int ckpt_header_unpack(const uint8_t *b, struct ckpt_meta *m, struct ckpt_layout_info *li,
                       struct df_err *err)
{
    DF_FAIL_IF(memcmp(b, CKPT_MAGIC, 8) != 0, err, DF_E_CORRUPT,
               "not a ditfarm checkpoint (bad magic)");
    uint32_t version = get32(b, 8);
    /* The version is checked before the checksum: a newer file with a
     * different header layout deserves "unsupported version", not "corrupt". */
    DF_FAIL_IF(version != CKPT_FORMAT_VERSION, err, DF_E_CORRUPT,
               "unsupported format version %" PRIu32 " (this build reads version %u)", version,
               CKPT_FORMAT_VERSION);
    uint64_t want = get64(b, CKPT_HEADER_CKSUM_OFF);
    uint64_t got = ckpt_hash(b, CKPT_HEADER_CKSUM_OFF);
    DF_FAIL_IF(want != got, err, DF_E_CORRUPT,
               "checksum mismatch in header (stored %016" PRIx64 ", computed %016" PRIx64 ")", want,
               got);
    memset(m, 0, sizeof(*m));
    memset(li, 0, sizeof(*li));
    li->version = version;
    m->flags = get32(b, 12);
    uint32_t hsize = get32(b, 16), esize = get32(b, 24);
    li->n_sections = get32(b, 20);
    li->file_size = get64(b, 32);
    uint64_t table_off = get64(b, 40);
    li->data_offset = get64(b, 48);
    li->table_cksum = get64(b, 56);
    DF_FAIL_IF(hsize != CKPT_HEADER_SIZE || esize != CKPT_ENTRY_SIZE ||
                   table_off != CKPT_HEADER_SIZE,
               err, DF_E_CORRUPT,
               "header: header size %" PRIu32 ", entry size %" PRIu32 ", table offset %" PRIu64
               " (want %u, %u, %u)",
               hsize, esize, table_off, CKPT_HEADER_SIZE, CKPT_ENTRY_SIZE, CKPT_HEADER_SIZE);
    DF_FAIL_IF(li->n_sections > CKPT_MAX_SECTIONS, err, DF_E_CORRUPT,
               "header: %" PRIu32 " sections (at most %u)", li->n_sections, CKPT_MAX_SECTIONS);
    DF_FAIL_IF(li->data_offset != CKPT_HEADER_SIZE + (uint64_t)CKPT_ENTRY_SIZE * li->n_sections,
               err, DF_E_CORRUPT, "header: data offset %" PRIu64 " does not follow the table",
               li->data_offset);
    DF_FAIL_IF(li->file_size < li->data_offset + CKPT_TRAILER_SIZE, err, DF_E_CORRUPT,
               "header: file size %" PRIu64 " is smaller than header + table + trailer",
               li->file_size);
    DF_FAIL_IF(get32(b, 28) != 0 || !all_zero(b + 192, 56), err, DF_E_CORRUPT,
               "header: reserved bytes are not zero");
    m->shot_hash = get64(b, 64);
    m->weights_hash = get64(b, 72);
    m->step = (int64_t)get64(b, 80);
    m->total_steps = (int64_t)get64(b, 88);
    m->seed = get64(b, 96);
    m->created_unix = (int64_t)get64(b, 104);
    m->layout_cfg = get32(b, 112);
    m->layout_ulysses = get32(b, 116);
    m->layout_ring = get32(b, 120);
    m->layout_world = get32(b, 124);
    DF_FAIL_IF(b[128 + CKPT_SHOT_ID_CAP - 1] != 0, err, DF_E_CORRUPT,
               "header: shot id is not NUL-terminated");
    memcpy(m->shot_id, b + 128, CKPT_SHOT_ID_CAP);
    if (ckpt_meta_check(m, err) < 0) {
        df_err_prefix(err, "header");
        return as_corrupt(err);
    }
    return 0;
}

/* ---- table entries -------------------------------------------------------- */

void ckpt_entry_pack(uint8_t *b, const struct ckpt_section *s)
{
    memset(b, 0, CKPT_ENTRY_SIZE);
    memcpy(b, s->name, strnlen(s->name, CKPT_NAME_CAP - 1));
    put32(b, 48, (uint32_t)s->kind);
    put32(b, 52, (uint32_t)s->encoding);
    put32(b, 56, (uint32_t)s->ndims);
    for (int d = 0; d < CKPT_MAX_DIMS; d++)
        put64(b, 64 + 8 * (size_t)d, d < s->ndims ? s->extents[d] : 0);
    put64(b, 104, s->offset);
    put64(b, 112, s->raw_size);
    put64(b, 120, s->stored_size);
    put64(b, 128, s->stored_cksum);
    put64(b, 136, s->raw_cksum);
}

/* product(extents) * elem, or UINT64_MAX on overflow. */
static uint64_t extents_bytes(const uint64_t *ext, int ndims, size_t elem)
{
    uint64_t total = elem;
    for (int d = 0; d < ndims; d++) {
        if (ext[d] != 0 && total > UINT64_MAX / ext[d])
            return UINT64_MAX;
        total *= ext[d];
    }
    return total;
}

int ckpt_entry_unpack(const uint8_t *b, unsigned index, struct ckpt_section *s,
                      struct df_err *err)
{
    memset(s, 0, sizeof(*s));
    DF_FAIL_IF(b[CKPT_NAME_CAP - 1] != 0, err, DF_E_CORRUPT,
               "section %u: name is not NUL-terminated", index);
    memcpy(s->name, b, CKPT_NAME_CAP);
    if (ckpt_name_check(s->name, err) < 0) {
        df_err_prefix(err, "section %u", index);
        return as_corrupt(err);
    }
    DF_FAIL_IF(!all_zero(b + strlen(s->name), CKPT_NAME_CAP - strlen(s->name)), err,
               DF_E_CORRUPT, "section '%s': name padding is not zero", s->name);
    uint32_t kind = get32(b, 48), enc = get32(b, 52), ndims = get32(b, 56);
    DF_FAIL_IF(kind >= CKPT_KIND_COUNT, err, DF_E_CORRUPT, "section '%s': unknown kind %" PRIu32,
               s->name, kind);
    DF_FAIL_IF(enc >= CKPT_ENCODING_COUNT, err, DF_E_CORRUPT,
               "section '%s': unknown encoding %" PRIu32, s->name, enc);
    DF_FAIL_IF(ndims < 1 || ndims > CKPT_MAX_DIMS, err, DF_E_CORRUPT,
               "section '%s': %" PRIu32 " dimensions (1..%d)", s->name, ndims, CKPT_MAX_DIMS);
    DF_FAIL_IF(get32(b, 60) != 0, err, DF_E_CORRUPT, "section '%s': reserved bytes are not zero",
               s->name);
    s->kind = (enum ckpt_kind)kind;
    s->encoding = (enum ckpt_encoding)enc;
    s->ndims = (int)ndims;
    for (int d = 0; d < CKPT_MAX_DIMS; d++) {
        s->extents[d] = get64(b, 64 + 8 * (size_t)d);
        DF_FAIL_IF(d >= s->ndims && s->extents[d] != 0, err, DF_E_CORRUPT,
                   "section '%s': extent %d is set past ndims %d", s->name, d, s->ndims);
    }
    s->offset = get64(b, 104);
    s->raw_size = get64(b, 112);
    s->stored_size = get64(b, 120);
    s->stored_cksum = get64(b, 128);
    s->raw_cksum = get64(b, 136);
    uint64_t want = extents_bytes(s->extents, s->ndims, ckpt_kind_size(s->kind));
    DF_FAIL_IF(want != s->raw_size, err, DF_E_CORRUPT,
               "section '%s': raw size %" PRIu64 " does not match its extents", s->name,
               s->raw_size);
    DF_FAIL_IF(s->encoding == CKPT_ENCODING_NONE && s->stored_size != s->raw_size, err,
               DF_E_CORRUPT, "section '%s': unencoded but stored size %" PRIu64 " != raw %" PRIu64,
               s->name, s->stored_size, s->raw_size);
    /* An upper bound on stored size keeps a corrupt entry from claiming a
     * huge payload; zstd never expands beyond its documented bound. */
    /* zstd spends at least 3 bytes per 128 KiB block, so a stored size far
     * below raw/43690 cannot be genuine: refuse it before anyone allocates
     * raw_size bytes on its word. */
    DF_FAIL_IF(s->encoding != CKPT_ENCODING_NONE && s->raw_size / 65536 > s->stored_size, err,
               DF_E_CORRUPT, "section '%s': raw size %" PRIu64 " for %" PRIu64
               " stored bytes exceeds zstd's maximum ratio", s->name, s->raw_size,
               s->stored_size);
    if (s->encoding != CKPT_ENCODING_NONE && s->raw_size <= (uint64_t)SIZE_MAX / 2) {
        uint64_t bound = ZSTD_compressBound((size_t)s->raw_size);
        DF_FAIL_IF(s->stored_size > bound, err, DF_E_CORRUPT,
                   "section '%s': stored size %" PRIu64 " exceeds the zstd bound %" PRIu64,
                   s->name, s->stored_size, bound);
    }
    return 0;
}
