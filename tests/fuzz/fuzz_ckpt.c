/*
 * fuzz_ckpt.c -- libFuzzer target for the checkpoint reader (lib/ckpt_read.c,
 * lib/ckpt_format.c).
 *
 * Random bytes almost never get past the XXH3 header checksum, so each input
 * is read twice: as is, then "fixed up": the header, table, section and
 * whole-file checksums recomputed over whatever the fuzzer wrote.
 * That sends mutated sizes, offsets, extents and zstd frames into the
 * structural checks and the decoders instead of stopping at the first hash.
 * Seed: tests/data/ckpt/v1-small.dfck.
 */
#include "ckpt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void put64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

/* Recompute every checksum the layout lets us locate; ignore what is out of
 * bounds (the reader must reject it anyway). */
static void fix_checksums(uint8_t *b, size_t len)
{
    if (len < CKPT_HEADER_SIZE + CKPT_TRAILER_SIZE)
        return;
    uint32_t n = (uint32_t)b[20] | (uint32_t)b[21] << 8 | (uint32_t)b[22] << 16 |
                 (uint32_t)b[23] << 24;
    uint64_t table_end = CKPT_HEADER_SIZE + (uint64_t)CKPT_ENTRY_SIZE * n;
    if (n <= CKPT_MAX_SECTIONS && table_end <= len) {
        for (uint32_t i = 0; i < n; i++) {
            uint8_t *e = b + CKPT_HEADER_SIZE + (size_t)CKPT_ENTRY_SIZE * i;
            uint64_t off = get64(e + 104), sz = get64(e + 120);
            if (off <= len && sz <= len - off)
                put64(e + 128, ckpt_hash(b + off, (size_t)sz));
        }
        put64(b + 56, ckpt_hash(b + CKPT_HEADER_SIZE, (size_t)(table_end - CKPT_HEADER_SIZE)));
    }
    put64(b + CKPT_HEADER_CKSUM_OFF, ckpt_hash(b, CKPT_HEADER_CKSUM_OFF));
    put64(b + len - CKPT_TRAILER_SIZE, ckpt_hash(b, len - CKPT_TRAILER_SIZE));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Open, and if that works, read everything every way the API allows. */
static void exercise(const uint8_t *buf, size_t size)
{
    struct df_err err = {0};
    ckpt_reader_t *r;
    /* a small decoded-size bound: the fuzzer must not chase zstd bombs into RSS */
    if (ckpt_open_mem_max(buf, size, "fuzz", (uint64_t)64 << 20, &r, &err) < 0)
        return;
    (void)ckpt_verify_payloads(r, &err);
    (void)ckpt_check_identity(r, "s", 1, 2, &err);
    for (unsigned i = 0; i < ckpt_section_count(r); i++) {
        const struct ckpt_section *s = ckpt_section_at(r, i);
        int64_t v;
        double d;
        uint8_t small[64];
        size_t len;
        (void)ckpt_get_i64(r, s->name, &v, &err);
        (void)ckpt_get_f64(r, s->name, &d, &err);
        (void)ckpt_get_bytes(r, s->name, small, sizeof(small), &len, &err);
        if (s->kind == CKPT_KIND_F32 && s->raw_size <= (64u << 20)) {
            int64_t ext[CKPT_MAX_DIMS];
            for (int k = 0; k < s->ndims; k++)
                ext[k] = (int64_t)s->extents[k];
            float *t = malloc(s->raw_size ? (size_t)s->raw_size : 1);
            if (t)
                (void)ckpt_get_tensor(r, s->name, t, ext, s->ndims, &err);
            free(t);
        }
    }
    ckpt_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    exercise(data, size);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    fix_checksums(buf, size);
    exercise(buf, size);
    free(buf);
    return 0;
}
