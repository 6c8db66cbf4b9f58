/*
 * safetensors.h -- read (and write) Hugging Face safetensors files.
 *
 * A safetensors file is an 8-byte little-endian header length N, N bytes of
 * JSON mapping each tensor name to {dtype, shape, data_offsets [begin, end)}
 * (offsets relative to the end of the header), then the raw little-endian
 * data.  Large models are split in shards named by a
 * `<stem>.safetensors.index.json` whose "weight_map" maps tensor -> file.
 *
 * A `struct safetensors` is one model's tensors, from a single file or from
 * every shard of an index: the files are mmap'd read-only and every header
 * is checked at open (sizes, offsets in range, dtype known, no two tensors
 * sharing bytes), so later lookups cannot read outside the mapping.  Values are
 * converted to fp32 on request (F32, F16, BF16; other dtypes are listed but
 * refused by the conversion).  Errors name the file and the tensor:
 *
 *     transformer/diffusion_pytorch_model.safetensors: tensor
 *     'blocks.3.attn1.to_q.weight' has shape [64, 32], expected [64, 64]
 *
 *     struct safetensors *st;
 *     if (safetensors_open_model(dir, "diffusion_pytorch_model", &st, &err) < 0) ...
 *     int64_t shape[2] = {dim, dim};
 *     if (safetensors_read_f32(st, "blocks.0.attn1.to_q.weight", 2, shape, buf, &err) < 0) ...
 *     safetensors_close(st);
 */
#ifndef DF_SAFETENSORS_H
#define DF_SAFETENSORS_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

enum safetensors_dtype {
    SAFETENSORS_DTYPE_F32,
    SAFETENSORS_DTYPE_F16,
    SAFETENSORS_DTYPE_BF16,
    SAFETENSORS_DTYPE_F64,
    SAFETENSORS_DTYPE_I64,
    SAFETENSORS_DTYPE_I32,
    SAFETENSORS_DTYPE_I16,
    SAFETENSORS_DTYPE_I8,
    SAFETENSORS_DTYPE_U8,
    SAFETENSORS_DTYPE_BOOL,
    SAFETENSORS_DTYPE_F8_E4M3,
    SAFETENSORS_DTYPE_F8_E5M2,
    SAFETENSORS_DTYPE_COUNT
};

/* The file's spelling ("F32", "BF16", ...); "?" when out of range. */
const char *safetensors_dtype_name(enum safetensors_dtype d);
/* Bytes per element; 0 when out of range. */
size_t safetensors_dtype_size(enum safetensors_dtype d);
/* Parse a dtype name; returns 0 or DF_E_NOTFOUND (unknown name). */
int safetensors_dtype_from_name(const char *name, enum safetensors_dtype *out);

#define SAFETENSORS_MAX_DIMS 8

struct safetensors_tensor {
    const char *name;             /* owned by the struct safetensors */
    const char *path;             /* file it lives in (as opened), owned likewise */
    enum safetensors_dtype dtype; /* element type in the file */
    int ndim;                     /* 0 .. SAFETENSORS_MAX_DIMS */
    int64_t shape[SAFETENSORS_MAX_DIMS];
    int64_t numel;                /* product of shape (1 for a scalar) */
    const void *data;             /* into the read-only mapping; maybe unaligned */
    size_t nbytes;                /* numel * dtype size */
};

struct safetensors; /* opaque: mapped files + sorted tensor index */

/* ---------------------------------------------------------------------------
 * Open / close
 * ------------------------------------------------------------------------- */

/* Map one .safetensors file and validate its header.  Returns 0 and sets
 * *out, or DF_E_IO (open/mmap), DF_E_PARSE (truncated file, header length
 * beyond the file, bad JSON, bad entry: message names path and tensor),
 * DF_E_NOMEM.  Close with safetensors_close(). */
int safetensors_open(const char *path, struct safetensors **out, struct df_err *err);

/* Open the model `stem` in folder `dir`: `<dir>/<stem>.safetensors` if it
 * exists, else the shards listed by `<dir>/<stem>.safetensors.index.json`
 * (every tensor of the weight_map must be present in the shard it names, and
 * no tensor may appear in two shards).  Returns 0 or DF_E_NOTFOUND (neither
 * file exists), or the codes of safetensors_open(). */
int safetensors_open_model(const char *dir, const char *stem, struct safetensors **out,
                           struct df_err *err);

/* Unmap and free.  Accepts NULL. */
void safetensors_close(struct safetensors *st);

/* ---------------------------------------------------------------------------
 * Lookup and conversion
 * ------------------------------------------------------------------------- */

/* Number of tensors (all shards). */
int safetensors_count(const struct safetensors *st);
/* Tensor i in name order (0 <= i < count); NULL when out of range. */
const struct safetensors_tensor *safetensors_at(const struct safetensors *st, int i);
/* Tensor by exact name, or NULL. */
const struct safetensors_tensor *safetensors_find(const struct safetensors *st, const char *name);

/* Find `name` and check its shape is exactly `shape[ndim]`.  Returns 0 and
 * sets *out, or DF_E_NOTFOUND ("<path>: tensor 'x' not found") / DF_E_INVAL
 * ("<path>: tensor 'x' has shape [a, b], expected [c, d]"). */
int safetensors_get(const struct safetensors *st, const char *name, int ndim,
                    const int64_t *shape, const struct safetensors_tensor **out,
                    struct df_err *err);

/* Convert t's data to fp32 into dst[n] (n must equal t->numel).  Returns 0
 * or DF_E_UNSUPPORTED (dtype other than F32/F16/BF16), DF_E_INVAL (n, or a
 * NaN/Inf value: the message names the tensor, the count and the first
 * index; non-finite weights are refused, never rendered). */
int safetensors_to_f32(const struct safetensors_tensor *t, float *dst, size_t n,
                       struct df_err *err);

/* safetensors_get() then safetensors_to_f32() into dst (numel floats). */
int safetensors_read_f32(const struct safetensors *st, const char *name, int ndim,
                         const int64_t *shape, float *dst, struct df_err *err);

/* Scalar conversions used by the readers (exposed for tests). */
float safetensors_f16_to_f32(uint16_t h);
float safetensors_bf16_to_f32(uint16_t b);
/* Round-to-nearest-even fp32 -> bf16 / f16 (for writing test files). */
uint16_t safetensors_f32_to_bf16(float f);
uint16_t safetensors_f32_to_f16(float f);

/* ---------------------------------------------------------------------------
 * Writing (small files: generated demo weights, test inputs)
 * ------------------------------------------------------------------------- */

struct safetensors_entry {
    const char *name;
    enum safetensors_dtype dtype; /* F32, F16 or BF16: data is converted from fp32 */
    int ndim;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    const float *data;            /* numel floats */
};

/* Write entries (names unique) to `path` atomically (temp file + rename),
 * with optional string metadata pairs meta[2*i] = key, meta[2*i+1] = value.
 * Returns 0 or DF_E_IO, DF_E_INVAL (dtype, duplicate name), DF_E_NOMEM. */
int safetensors_write(const char *path, const struct safetensors_entry *entries, int n,
                      const char *const *meta, int n_meta, struct df_err *err);

/* The same, where raw[i] (raw itself may be NULL), when not NULL, holds entry
 * i's numel values already in its dtype (any dtype: I64 token ids, ...),
 * little-endian, written as they are instead of converting entries[i].data. */
int safetensors_write_raw(const char *path, const struct safetensors_entry *entries,
                          const void *const *raw, int n, const char *const *meta, int n_meta,
                          struct df_err *err);

#endif /* DF_SAFETENSORS_H */
