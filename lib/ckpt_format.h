/*
 * ckpt_format.h -- the on-disk layout of a ditfarm checkpoint (.dfck), format
 * version 1.  This file is the specification; lib/ckpt_format.c packs and
 * unpacks it, lib/ckpt_write.c and lib/ckpt_read.c use those, and
 * docs/checkpoint.md explains the why.
 *
 * All integers are little-endian with the sizes given; floats are IEEE-754
 * little-endian.  Nothing is written by dumping a C struct: every field is
 * packed at its offset below, so compiler padding never reaches the disk.
 * Checksums are XXH3-64 (seed 0) from Debian's libxxhash, chosen over CRC32C
 * because it runs at memory speed on the hundreds of MB a cache state holds.
 *
 * File = header | section table | section payloads | trailer, with no gaps:
 *
 *   [0, 256)                      fixed header
 *   [256, 256 + 144*n)            n section-table entries, in payload order
 *   [data_offset, file_size - 16) payloads, back to back, in table order
 *   [file_size - 16, file_size)   trailer
 *
 * Fixed header (CKPT_HEADER_SIZE = 256 bytes)
 *   off  size  meaning
 *     0     8  magic 0x89 'D' 'F' 'C' 'K' '\r' '\n' 0x1a (PNG-style: catches
 *              7-bit and CRLF mangling, never valid text)
 *     8     4  format version, u32 = CKPT_FORMAT_VERSION; readers refuse others
 *    12     4  flags, u32, CKPT_FLAG_* bits; readers refuse unknown bits
 *    16     4  header size, u32 = 256
 *    20     4  section count n, u32, <= CKPT_MAX_SECTIONS
 *    24     4  section entry size, u32 = 144
 *    28     4  reserved, zero
 *    32     8  file size in bytes, u64, trailer included (truncation check)
 *    40     8  table offset, u64 = 256
 *    48     8  data offset, u64 = 256 + 144*n
 *    56     8  table checksum, XXH3-64 of the n table entries
 *    64     8  shot hash, u64 (manifest shot identity, computed by the manifest code)
 *    72     8  weights hash, u64 (model weights identity)
 *    80     8  step index, i64: steps completed; resume runs step `step` next
 *    88     8  total steps, i64
 *    96     8  seed, u64
 *   104     8  created, i64 Unix seconds
 *   112     4  layout cfg degree, u32 >= 1
 *   116     4  layout ulysses degree, u32 >= 1
 *   120     4  layout ring degree, u32 >= 1
 *   124     4  layout world size, u32 = cfg * ulysses * ring
 *   128    64  shot id, ASCII [A-Za-z0-9._-], NUL-padded, at most 63 chars
 *   192    56  reserved, zero
 *   248     8  header checksum, XXH3-64 of bytes [0, 248)
 *
 * Section-table entry (CKPT_ENTRY_SIZE = 144 bytes)
 *   off  size  meaning
 *     0    48  name, ASCII printable, NUL-padded, 1..47 chars, unique in the file
 *    48     4  kind, u32 enum ckpt_kind (element type: i64, f64, byte, f32)
 *    52     4  encoding, u32 enum ckpt_encoding (none, zstd, shuffle+zstd)
 *    56     4  ndims, u32, 1..CKPT_MAX_DIMS
 *    60     4  reserved, zero
 *    64    40  extents, 5 x u64, global (never per-rank) sizes, slowest first;
 *              entries past ndims are zero
 *   104     8  payload offset, u64, absolute in the file
 *   112     8  raw size, u64 = product(extents) * element size
 *   120     8  stored size, u64 (bytes on disk after encoding)
 *   128     8  stored checksum, XXH3-64 of the stored bytes
 *   136     8  raw checksum, XXH3-64 of the decoded (raw little-endian) bytes
 *
 * Trailer (CKPT_TRAILER_SIZE = 16 bytes)
 *   off  size  meaning
 *     0     8  file checksum, XXH3-64 of bytes [0, file_size - 16)
 *     8     8  end magic "DFCKEND\n" (its absence means a torn write)
 *
 * Encodings: CKPT_ENCODING_SHUFFLE_ZSTD stores the byte planes of the
 * elements (all byte 0s, then all byte 1s, ...; see ckpt_shuffle.c) as one
 * zstd frame: the sign/exponent plane of floats is highly redundant, the low
 * mantissa planes are noise, and separating them lets zstd see that.
 * Every zstd frame declares its content size, and readers require it to equal
 * the raw size (so nothing is allocated on the word of a corrupt entry).
 */
#ifndef DF_CKPT_FORMAT_H
#define DF_CKPT_FORMAT_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
/* Payloads are memcpy'd from host floats; ditfarm runs on x86-64 and aarch64. */
#error "ditfarm checkpoints assume a little-endian host"
#endif

#define CKPT_MAGIC "\x89" "DFCK\r\n\x1a"
#define CKPT_END_MAGIC "DFCKEND\n"
#define CKPT_FORMAT_VERSION 1u
#define CKPT_HEADER_SIZE 256u
#define CKPT_HEADER_CKSUM_OFF 248u
#define CKPT_ENTRY_SIZE 144u
#define CKPT_TRAILER_SIZE 16u
#define CKPT_MAX_SECTIONS 4096u
#define CKPT_MAX_DIMS 5
#define CKPT_NAME_CAP 48     /* name bytes on disk, NUL included */
#define CKPT_SHOT_ID_CAP 64  /* shot id bytes on disk, NUL included */

/* Header flags.  Informational today, but a reader refuses bits it does not
 * know, so a future flag that changes meaning cannot be misread. */
enum ckpt_flag {
    CKPT_FLAG_ON_SIGNAL = 1u << 0, /* written because the job was told to stop */
};
#define CKPT_FLAGS_KNOWN ((uint32_t)CKPT_FLAG_ON_SIGNAL)

/* Element type of a section. */
enum ckpt_kind {
    CKPT_KIND_I64,   /* int64 values (step counters, RNG state words) */
    CKPT_KIND_F64,   /* doubles (accumulators, thresholds, timesteps) */
    CKPT_KIND_BYTES, /* opaque bytes (masks, hashes, small blobs) */
    CKPT_KIND_F32,   /* float32 tensor (latents, sampler history, residuals) */
    CKPT_KIND_COUNT
};

enum ckpt_encoding {
    CKPT_ENCODING_NONE,         /* stored as is */
    CKPT_ENCODING_ZSTD,         /* one zstd frame */
    CKPT_ENCODING_SHUFFLE_ZSTD, /* byte planes of the elements, then one zstd frame */
    CKPT_ENCODING_COUNT
};

/* "i64", "f64", "bytes", "f32"; "?" when out of range. */
const char *ckpt_kind_name(enum ckpt_kind k);
/* Bytes per element of a kind (8, 8, 1, 4); 0 when out of range. */
size_t ckpt_kind_size(enum ckpt_kind k);
/* "none", "zstd", "shuffle+zstd"; "?" when out of range. */
const char *ckpt_encoding_name(enum ckpt_encoding e);
/* Parse an encoding name; returns 0 or DF_E_INVAL. */
int ckpt_encoding_from_name(const char *name, enum ckpt_encoding *out, struct df_err *err);

/* The decoded fixed header: what a checkpoint is, and where it came from. */
struct ckpt_meta {
    char shot_id[CKPT_SHOT_ID_CAP]; /* manifest shot id, e.g. "intro-03" */
    uint64_t shot_hash;             /* identity of the manifest shot */
    uint64_t weights_hash;          /* identity of the model weights */
    int64_t step;                   /* steps completed; resume runs this step next */
    int64_t total_steps;            /* steps in the schedule */
    uint64_t seed;                  /* the shot's seed */
    int64_t created_unix;           /* Unix seconds; 0 at write time means "now" */
    uint32_t flags;                 /* CKPT_FLAG_* */
    uint32_t layout_cfg;            /* layout the writer ran with (informational: */
    uint32_t layout_ulysses;        /*   tensors are global, so any layout resumes) */
    uint32_t layout_ring;
    uint32_t layout_world;          /* = cfg * ulysses * ring */
};

/* One decoded section-table entry. */
struct ckpt_section {
    char name[CKPT_NAME_CAP];         /* NUL-terminated */
    enum ckpt_kind kind;              /* element type */
    enum ckpt_encoding encoding;      /* how the payload is stored */
    int ndims;                        /* 1..CKPT_MAX_DIMS */
    uint64_t extents[CKPT_MAX_DIMS];  /* global extents, zero past ndims */
    uint64_t offset;                  /* payload offset in the file */
    uint64_t raw_size;                /* decoded bytes */
    uint64_t stored_size;             /* bytes on disk */
    uint64_t stored_cksum;            /* XXH3-64 of the stored bytes */
    uint64_t raw_cksum;               /* XXH3-64 of the decoded bytes */
};

/* Header fields that locate the rest of the file. */
struct ckpt_layout_info {
    uint32_t version;      /* format version */
    uint32_t n_sections;   /* table entries */
    uint64_t file_size;    /* total bytes the writer wrote */
    uint64_t data_offset;  /* first payload byte */
    uint64_t table_cksum;  /* XXH3-64 of the table */
};

/* ---- packing (lib/ckpt_format.c) ---------------------------------------- */

/* Pack the header into buf[CKPT_HEADER_SIZE], checksum included.  meta must
 * be valid (ckpt_meta_check).  Never fails. */
void ckpt_header_pack(uint8_t *buf, const struct ckpt_meta *meta,
                      const struct ckpt_layout_info *li);

/* Unpack and check a header: magic, version, header checksum, sizes, flags,
 * layout, shot id.  Returns 0, or DF_E_CORRUPT with the reason in err. */
int ckpt_header_unpack(const uint8_t *buf, struct ckpt_meta *meta, struct ckpt_layout_info *li,
                       struct df_err *err);

/* Pack one table entry into buf[CKPT_ENTRY_SIZE].  Never fails. */
void ckpt_entry_pack(uint8_t *buf, const struct ckpt_section *s);

/* Unpack and check one entry (name, enums, dims, raw size vs extents).
 * Returns 0, or DF_E_CORRUPT naming entry `index`. */
int ckpt_entry_unpack(const uint8_t *buf, unsigned index, struct ckpt_section *s,
                      struct df_err *err);

/* Check a meta before writing: shot id charset/length, layout product, steps.
 * Returns 0 or DF_E_INVAL. */
int ckpt_meta_check(const struct ckpt_meta *meta, struct df_err *err);

/* Check a section name: 1..47 printable ASCII chars, no quote or slash.
 * Returns 0 or DF_E_INVAL. */
int ckpt_name_check(const char *name, struct df_err *err);

/* XXH3-64 (seed 0) of len bytes. */
uint64_t ckpt_hash(const void *p, size_t len);

#endif /* DF_CKPT_FORMAT_H */
