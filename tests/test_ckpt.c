/* test_ckpt.c -- lib/ckpt_*.c: round trips, every bad input with its exact
 * message, the directory rules (find newest valid, keep last N, temp files)
 * and a full disk injected through struct ckpt_io. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt.h"
#include "ckpt_shuffle.h"

#define SHOT_HASH 0x1111222233334444ull
#define WEIGHTS_HASH 0xaaaabbbbccccddddull

/* ---- helpers --------------------------------------------------------------- */

static char *make_dir(void)
{
    char tmpl[] = "/tmp/df_test_ckpt_XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void remove_dir(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[4096];
    while (d && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static int exists(const char *dir, const char *name)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

static struct ckpt_meta test_meta(const char *shot, int64_t step)
{
    struct ckpt_meta m = {0};
    snprintf(m.shot_id, sizeof(m.shot_id), "%s", shot);
    m.shot_hash = SHOT_HASH;
    m.weights_hash = WEIGHTS_HASH;
    m.step = step;
    m.total_steps = 50;
    m.seed = 42;
    m.created_unix = 1700000000;
    m.layout_cfg = 2;
    m.layout_ulysses = 2;
    m.layout_ring = 1;
    m.layout_world = 4;
    return m;
}

#define LAT_N (4 * 3 * 16 * 16)
static const int64_t k_lat_ext[4] = {4, 3, 16, 16};

/* A smooth field plus the float values that tend to get lost: NaN payloads,
 * denormals, -0, infinities. */
static void fill_latent(float *v)
{
    for (int i = 0; i < LAT_N; i++)
        v[i] = sinf(0.01f * (float)i) + 0.001f * (float)(i % 7);
    const uint32_t specials[] = {0x7fc00001u, 0xffa00123u, 0x00000001u, 0x807fffffu,
                                 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fbfffffu};
    for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++)
        memcpy(&v[k * 97], &specials[k], 4);
}

/* Write a checkpoint with one of everything; returns the commit's rc. */
static int write_full(const char *dir, const char *shot, int64_t step, enum ckpt_encoding enc,
                      int keep_last, const struct ckpt_io *io, struct df_err *err)
{
    struct ckpt_meta m = test_meta(shot, step);
    struct ckpt_write_opts o;
    ckpt_write_opts_init(&o);
    o.encoding = enc;
    o.keep_last = keep_last;
    o.io = io;
    ckpt_writer_t *w;
    int rc = ckpt_writer_create(&m, &o, &w, err);
    assert_int_equal(rc, 0);
    static float lat[LAT_N];
    fill_latent(lat);
    double hist[3] = {0.25, -1e300, 5e-324};
    int64_t rng[4] = {INT64_MIN, -1, 0, INT64_MAX};
    uint8_t mask[50];
    for (int i = 0; i < 50; i++)
        mask[i] = (uint8_t)(i % 3 == 0);
    assert_int_equal(ckpt_writer_put_i64(w, "sampler.order", 2, err), 0);
    assert_int_equal(ckpt_writer_put_f64(w, "tea.acc_c", 0.125, err), 0);
    assert_int_equal(ckpt_writer_put_f64s(w, "sampler.t_hist", hist, 3, err), 0);
    assert_int_equal(ckpt_writer_put_i64s(w, "rng.state", rng, 4, err), 0);
    assert_int_equal(ckpt_writer_put_bytes(w, "tea.mask", mask, sizeof(mask), err), 0);
    assert_int_equal(ckpt_writer_put_tensor(w, "latent", lat, k_lat_ext, 4, err), 0);
    rc = ckpt_writer_commit(w, dir, NULL, err);
    ckpt_writer_free(w);
    return rc;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
}

static void path_of(char *dst, size_t cap, const char *dir, const char *shot, int64_t step)
{
    char name[256];
    assert_int_equal(ckpt_file_name(shot, step, name, sizeof(name), NULL), 0);
    snprintf(dst, cap, "%s/%s", dir, name);
}

/* Recompute the table, header and file checksums after a test edited a
 * table entry, so only the edit itself is wrong. */
static void reseal(uint8_t *b, size_t len)
{
    struct ckpt_meta m;
    struct ckpt_layout_info li;
    struct df_err err = {0};
    assert_int_equal(ckpt_header_unpack(b, &m, &li, &err), 0);
    li.table_cksum = ckpt_hash(b + CKPT_HEADER_SIZE, (size_t)CKPT_ENTRY_SIZE * li.n_sections);
    ckpt_header_pack(b, &m, &li);
    uint64_t h = ckpt_hash(b, len - CKPT_TRAILER_SIZE);
    for (int i = 0; i < 8; i++)
        b[len - CKPT_TRAILER_SIZE + (size_t)i] = (uint8_t)(h >> (8 * i));
}

/* A zstd frame of RLE blocks that decodes to `raw` zero bytes: 4 bytes per
 * 128 KiB, so 4 GiB fit in 128 KiB.  *len gets its size; caller frees. */
static uint8_t *zstd_bomb(uint64_t raw, size_t *len)
{
    const uint32_t block = 128u << 10;
    uint64_t nblocks = (raw + block - 1) / block;
    uint8_t *b = malloc(4 + 1 + 8 + 4 * nblocks);
    assert_non_null(b);
    size_t at = 0;
    const uint8_t magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    memcpy(b, magic, 4);
    at = 4;
    b[at++] = 0xe0; /* 8-byte content size, single segment, no checksum */
    for (int i = 0; i < 8; i++)
        b[at++] = (uint8_t)(raw >> (8 * i));
    for (uint64_t k = 0; k < nblocks; k++) {
        uint32_t n = (uint32_t)(k + 1 < nblocks ? block : raw - k * block);
        uint32_t hdr = (k + 1 == nblocks) | (1u << 1) | (n << 3); /* RLE block */
        b[at++] = (uint8_t)hdr;
        b[at++] = (uint8_t)(hdr >> 8);
        b[at++] = (uint8_t)(hdr >> 16);
        b[at++] = 0; /* the repeated byte */
    }
    *len = at;
    return b;
}

/* A whole checkpoint around one f32 section whose payload is `stored`. */
static uint8_t *one_section_file(const uint8_t *stored, size_t n, uint64_t raw, size_t *len)
{
    struct ckpt_meta m = test_meta("s", 3);
    struct ckpt_section sec = {.kind = CKPT_KIND_F32, .encoding = CKPT_ENCODING_ZSTD, .ndims = 1};
    snprintf(sec.name, sizeof(sec.name), "latent");
    sec.extents[0] = raw / 4;
    sec.offset = CKPT_HEADER_SIZE + CKPT_ENTRY_SIZE;
    sec.raw_size = raw;
    sec.stored_size = n;
    sec.stored_cksum = ckpt_hash(stored, n);
    sec.raw_cksum = 0;
    *len = (size_t)sec.offset + n + CKPT_TRAILER_SIZE;
    uint8_t *b = calloc(1, *len);
    assert_non_null(b);
    ckpt_entry_pack(b + CKPT_HEADER_SIZE, &sec);
    memcpy(b + sec.offset, stored, n);
    memcpy(b + *len - 8, CKPT_END_MAGIC, 8);
    struct ckpt_layout_info li = {.version = CKPT_FORMAT_VERSION, .n_sections = 1,
                                  .file_size = *len, .data_offset = sec.offset};
    ckpt_header_pack(b, &m, &li);
    reseal(b, *len);
    return b;
}

/* Open bytes in memory and return the error message (or "" when valid). */
static const char *open_msg(const uint8_t *b, size_t len, struct df_err *err)
{
    ckpt_reader_t *r;
    df_err_clear(err);
    if (ckpt_open_mem(b, len, "f.dfck", &r, err) == 0) {
        ckpt_close(r);
        return "";
    }
    return err->msg;
}

/* ---- round trip ------------------------------------------------------------ */

static void check_round_trip(enum ckpt_encoding enc)
{
    char *dir = make_dir();
    struct df_err err = {0};
    assert_int_equal(write_full(dir, "intro-03", 7, enc, 0, NULL, &err), 0);
    char path[4096];
    path_of(path, sizeof(path), dir, "intro-03", 7);
    assert_true(exists(dir, "ckpt-intro-03-000007.dfck"));

    ckpt_reader_t *r;
    assert_int_equal(ckpt_open(path, &r, &err), 0);
    const struct ckpt_meta *m = ckpt_reader_meta(r);
    assert_string_equal(m->shot_id, "intro-03");
    assert_true(m->shot_hash == SHOT_HASH && m->weights_hash == WEIGHTS_HASH);
    assert_int_equal(m->step, 7);
    assert_int_equal(m->total_steps, 50);
    assert_int_equal(m->seed, 42);
    assert_int_equal(m->created_unix, 1700000000);
    assert_int_equal(m->layout_cfg, 2);
    assert_int_equal(m->layout_world, 4);
    assert_int_equal(ckpt_section_count(r), 6);

    int64_t order, rng[4];
    double acc, hist[3];
    uint8_t mask[64];
    size_t mlen;
    assert_int_equal(ckpt_get_i64(r, "sampler.order", &order, &err), 0);
    assert_int_equal(order, 2);
    assert_int_equal(ckpt_get_f64(r, "tea.acc_c", &acc, &err), 0);
    assert_true(acc == 0.125);
    assert_int_equal(ckpt_get_f64s(r, "sampler.t_hist", hist, 3, &err), 0);
    assert_true(hist[0] == 0.25 && hist[1] == -1e300 && hist[2] == 5e-324);
    assert_int_equal(ckpt_get_i64s(r, "rng.state", rng, 4, &err), 0);
    assert_true(rng[0] == INT64_MIN && rng[3] == INT64_MAX);
    assert_int_equal(ckpt_get_bytes(r, "tea.mask", mask, sizeof(mask), &mlen, &err), 0);
    assert_int_equal(mlen, 50);
    assert_int_equal(mask[3], 1);
    assert_int_equal(mask[4], 0);

    static float want[LAT_N], got[LAT_N];
    fill_latent(want);
    memset(got, 0, sizeof(got));
    assert_int_equal(ckpt_get_tensor(r, "latent", got, k_lat_ext, 4, &err), 0);
    assert_memory_equal(got, want, sizeof(want)); /* bit-exact, NaN payloads included */

    const struct ckpt_section *s = ckpt_section_find(r, "latent", &err);
    assert_non_null(s);
    assert_int_equal(s->encoding, enc);
    assert_int_equal(s->ndims, 4);
    assert_int_equal(s->extents[3], 16);
    assert_int_equal(s->raw_size, sizeof(want));
    if (enc != CKPT_ENCODING_NONE)
        assert_true(s->stored_size < s->raw_size);
    assert_int_equal(ckpt_verify_payloads(r, &err), 0);
    assert_int_equal(ckpt_check_identity(r, "intro-03", SHOT_HASH, WEIGHTS_HASH, &err), 0);
    ckpt_close(r);
    remove_dir(dir);
}

static void test_round_trip_shuffle(void **state)
{
    (void)state;
    check_round_trip(CKPT_ENCODING_SHUFFLE_ZSTD);
}

static void test_round_trip_zstd(void **state)
{
    (void)state;
    check_round_trip(CKPT_ENCODING_ZSTD);
}

static void test_round_trip_none(void **state)
{
    (void)state;
    check_round_trip(CKPT_ENCODING_NONE);
}

static void test_shuffle_inverse(void **state)
{
    (void)state;
    uint8_t src[8 * 37], mid[sizeof(src)], back[sizeof(src)];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 31 + 7);
    const size_t elems[] = {1, 2, 3, 4, 8};
    for (size_t k = 0; k < 5; k++) {
        /* Every n up to the buffer: SIMD blocks of 16 plus every tail length. */
        for (size_t n = 0; n <= sizeof(src) / elems[k]; n++) {
            size_t e = elems[k];
            ckpt_shuffle(mid, src, n, e);
            for (size_t b = 0; b < e; b++)
                for (size_t i = 0; i < n; i++)
                    assert_int_equal(mid[b * n + i], src[i * e + b]);
            ckpt_unshuffle(back, mid, n, e);
            if (n > 0)
                assert_memory_equal(back, src, n * e);
        }
    }
}

/* ---- bad files ------------------------------------------------------------- */

static uint8_t *good_file(size_t *len)
{
    char *dir = make_dir();
    struct df_err err = {0};
    assert_int_equal(write_full(dir, "s", 1, CKPT_ENCODING_SHUFFLE_ZSTD, 0, NULL, &err), 0);
    char path[4096];
    path_of(path, sizeof(path), dir, "s", 1);
    uint8_t *b = slurp(path, len);
    remove_dir(dir);
    return b;
}

static void test_truncated(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = good_file(&len);
    struct df_err err = {0};
    char want[4300];
    assert_string_equal(open_msg(b, len, &err), "");
    snprintf(want, sizeof(want), "f.dfck: truncated: %zu of %zu bytes", len - 1, len);
    assert_string_equal(open_msg(b, len - 1, &err), want);
    assert_int_equal(err.code, DF_E_CORRUPT);
    snprintf(want, sizeof(want), "f.dfck: truncated: 300 of %zu bytes", len);
    assert_string_equal(open_msg(b, 300, &err), want);
    assert_string_equal(open_msg(b, 100, &err),
                        "f.dfck: truncated: 100 of at least 256 bytes (incomplete header)");
    assert_string_equal(open_msg(b, 0, &err),
                        "f.dfck: truncated: 0 of at least 256 bytes (incomplete header)");
    /* Every prefix is rejected. */
    for (size_t n = 0; n < len; n += 7)
        assert_string_not_equal(open_msg(b, n, &err), "");

    /* The same through a real file, with its path in the message. */
    char *dir = make_dir();
    char path[4096];
    snprintf(path, sizeof(path), "%s/ckpt-s-000001.dfck", dir);
    spit(path, b, 1000);
    ckpt_reader_t *r;
    assert_int_equal(ckpt_open(path, &r, &err), DF_E_CORRUPT);
    snprintf(want, sizeof(want), "%s: truncated: 1000 of %zu bytes", path, len);
    assert_string_equal(err.msg, want);
    spit(path, b, 0);
    assert_int_equal(ckpt_open(path, &r, &err), DF_E_CORRUPT);
    assert_int_equal(ckpt_open(dir, &r, &err), DF_E_IO);
    snprintf(want, sizeof(want), "%s: not a regular file", dir);
    assert_string_equal(err.msg, want);
    snprintf(path, sizeof(path), "%s/nope.dfck", dir);
    assert_int_equal(ckpt_open(path, &r, &err), DF_E_NOTFOUND);
    snprintf(want, sizeof(want), "open %s: No such file or directory", path);
    assert_string_equal(err.msg, want);
    remove_dir(dir);
    free(b);
}

static void test_flipped_bytes(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = good_file(&len);
    struct df_err err = {0};
    ckpt_reader_t *r;
    assert_int_equal(ckpt_open_mem(b, len, "f.dfck", &r, &err), 0);
    const struct ckpt_section *lat = ckpt_section_find(r, "latent", &err);
    size_t lat_off = (size_t)lat->offset + 10;
    ckpt_close(r);

    b[lat_off] ^= 0x10;
    assert_string_equal(open_msg(b, len, &err), "f.dfck: checksum mismatch in section 'latent'");
    b[lat_off] ^= 0x10;
    b[100] ^= 1;
    assert_true(strncmp(open_msg(b, len, &err), "f.dfck: checksum mismatch in header (stored ",
                        44) == 0);
    b[100] ^= 1;
    b[CKPT_HEADER_SIZE + 5] ^= 0x80;
    assert_string_equal(open_msg(b, len, &err), "f.dfck: checksum mismatch in section table");
    b[CKPT_HEADER_SIZE + 5] ^= 0x80;
    b[len - 12] ^= 4;
    assert_string_equal(open_msg(b, len, &err), "f.dfck: checksum mismatch over the whole file");
    b[len - 12] ^= 4;
    b[len - 2] ^= 4;
    assert_string_equal(open_msg(b, len, &err),
                        "f.dfck: bad end marker (torn or overwritten trailer)");
    b[len - 2] ^= 4;
    b[0] = 'X';
    assert_string_equal(open_msg(b, len, &err), "f.dfck: not a ditfarm checkpoint (bad magic)");
    b[0] = 0x89;
    assert_string_equal(open_msg(b, len, &err), "");

    /* Any single flipped bit anywhere is caught (stride keeps it fast). */
    for (size_t i = 0; i < len; i += 3) {
        b[i] ^= (uint8_t)(1u << (i % 8));
        assert_string_not_equal(open_msg(b, len, &err), "");
        b[i] ^= (uint8_t)(1u << (i % 8));
    }
    free(b);
}

static void test_wrong_version(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = good_file(&len);
    struct df_err err = {0};
    b[8] = 2;
    assert_string_equal(open_msg(b, len, &err),
                        "f.dfck: unsupported format version 2 (this build reads version 1)");
    free(b);
}

static void test_getter_errors(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = good_file(&len);
    struct df_err err = {0};
    ckpt_reader_t *r;
    assert_int_equal(ckpt_open_mem(b, len, "f.dfck", &r, &err), 0);
    int64_t v;
    double d;
    static float lat[LAT_N];
    uint8_t small[8];
    size_t n;
    assert_int_equal(ckpt_get_i64(r, "nope", &v, &err), DF_E_NOTFOUND);
    assert_string_equal(err.msg, "f.dfck: no section 'nope'");
    assert_int_equal(ckpt_get_f64(r, "sampler.order", &d, &err), DF_E_INVAL);
    assert_string_equal(err.msg, "f.dfck: section 'sampler.order' holds i64, expected f64");
    assert_int_equal(ckpt_get_i64(r, "rng.state", &v, &err), DF_E_INVAL);
    assert_string_equal(err.msg, "f.dfck: section 'rng.state' holds 4 values, expected 1");
    const int64_t other[4] = {4, 3, 16, 8};
    assert_int_equal(ckpt_get_tensor(r, "latent", lat, other, 4, &err), DF_E_INVAL);
    assert_string_equal(err.msg,
                        "f.dfck: tensor 'latent' has extents [4,3,16,16], expected [4,3,16,8]");
    assert_int_equal(ckpt_get_bytes(r, "tea.mask", small, sizeof(small), &n, &err), DF_E_RANGE);
    assert_string_equal(err.msg, "f.dfck: section 'tea.mask' holds 50 bytes, buffer has 8");
    ckpt_close(r);
    free(b);
}

static void test_writer_errors(void **state)
{
    (void)state;
    struct df_err err = {0};
    struct ckpt_meta m = test_meta("bad/shot", 1);
    ckpt_writer_t *w;
    assert_int_equal(ckpt_writer_create(&m, NULL, &w, &err), DF_E_INVAL);
    assert_string_equal(err.msg,
                        "shot id 'bad/shot': character 4 (0x2f) is not one of [A-Za-z0-9._-]");
    m = test_meta("s", 1);
    m.layout_world = 3;
    assert_int_equal(ckpt_writer_create(&m, NULL, &w, &err), DF_E_INVAL);
    assert_string_equal(err.msg, "layout world 3 != cfg 2 x ulysses 2 x ring 1");
    m = test_meta("s", 1);
    assert_int_equal(ckpt_writer_create(&m, NULL, &w, &err), 0);
    assert_int_equal(ckpt_writer_put_i64(w, "x", 1, &err), 0);
    assert_int_equal(ckpt_writer_put_f64(w, "x", 1, &err), DF_E_INVAL);
    assert_string_equal(err.msg, "section 'x' is already in this checkpoint");
    assert_int_equal(ckpt_writer_put_i64(w, "a b", 1, &err), DF_E_INVAL);
    const int64_t ext[2] = {2, -1};
    float f[2] = {0};
    assert_int_equal(ckpt_writer_put_tensor(w, "t", f, ext, 2, &err), DF_E_INVAL);
    assert_string_equal(err.msg, "tensor 't': extent 1 is negative (-1)");
    ckpt_writer_free(w);
}

/* ---- directory rules ------------------------------------------------------- */

static void test_name_parse(void **state)
{
    (void)state;
    char shot[CKPT_SHOT_ID_CAP];
    int64_t step;
    assert_int_equal(ckpt_name_parse("ckpt-a-000040.dfck", shot, &step), CKPT_NAME_FINAL);
    assert_string_equal(shot, "a");
    assert_int_equal(step, 40);
    assert_int_equal(ckpt_name_parse("ckpt-a-b-1234567.dfck", shot, &step), CKPT_NAME_FINAL);
    assert_string_equal(shot, "a-b");
    assert_int_equal(step, 1234567);
    assert_int_equal(ckpt_name_parse("ckpt-x.y-000002.dfck.tmp-123-456", shot, &step),
                     CKPT_NAME_TEMP);
    assert_string_equal(shot, "x.y");
    assert_int_equal(step, 2);
    assert_int_equal(ckpt_name_parse("ckpt-a-00x040.dfck", shot, &step), CKPT_NAME_OTHER);
    assert_int_equal(ckpt_name_parse("ckpt--000040.dfck", shot, &step), CKPT_NAME_OTHER);
    assert_int_equal(ckpt_name_parse("ckpt-a.dfck", shot, &step), CKPT_NAME_OTHER);
    assert_int_equal(ckpt_name_parse("other.dfck", shot, &step), CKPT_NAME_OTHER);
    assert_int_equal(ckpt_name_parse("ckpt-a-000040.dfck~", shot, &step), CKPT_NAME_OTHER);
}

static void test_find_latest_skips_bad(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct df_err err = {0};
    for (int step = 10; step <= 40; step += 10)
        assert_int_equal(write_full(dir, "s", step, CKPT_ENCODING_SHUFFLE_ZSTD, 0, NULL, &err), 0);
    /* Another shot whose name starts the same must not be considered. */
    assert_int_equal(write_full(dir, "s-2", 49, CKPT_ENCODING_ZSTD, 0, NULL, &err), 0);
    char p40[4096], p30[4096], p20[4096];
    path_of(p40, sizeof(p40), dir, "s", 40);
    path_of(p30, sizeof(p30), dir, "s", 30);
    path_of(p20, sizeof(p20), dir, "s", 20);
    size_t len;
    uint8_t *b = slurp(p40, &len);
    spit(p40, b, len / 2); /* torn */
    free(b);
    b = slurp(p30, &len);
    b[len - 40] ^= 1; /* bit rot in the last payload */
    spit(p30, b, len);
    free(b);
    /* A kill -9 leftover of a newer step. */
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s/ckpt-s-000045.dfck.tmp-999-1", dir);
    spit(tmp, (const uint8_t *)"partial", 7);

    char found[4096];
    struct ckpt_skip_report sk;
    assert_int_equal(ckpt_find_latest(dir, "s", SHOT_HASH, WEIGHTS_HASH, found, sizeof(found),
                                      &sk, &err),
                     0);
    assert_string_equal(found, p20);
    assert_int_equal(sk.n, 2);
    assert_string_equal(sk.items[0].file, "ckpt-s-000040.dfck");
    char want[4300];
    snprintf(want, sizeof(want), "truncated: %zu of %zu bytes", len / 2, len);
    assert_string_equal(sk.items[0].reason, want);
    assert_string_equal(sk.items[1].file, "ckpt-s-000030.dfck");
    assert_string_equal(sk.items[1].reason, "checksum mismatch in section 'latent'");

    /* Wrong manifest shot / weights: everything skipped, with the reason. */
    assert_int_equal(ckpt_find_latest(dir, "s", SHOT_HASH + 1, WEIGHTS_HASH, found,
                                      sizeof(found), &sk, &err),
                     DF_E_NOTFOUND);
    assert_int_equal(sk.n, 4);
    assert_string_equal(sk.items[2].reason, "written for another manifest shot (hash "
                                             "1111222233334444, expected 1111222233334445)");
    snprintf(want, sizeof(want), "no valid checkpoint of shot 's' in %s (4 skipped)", dir);
    assert_string_equal(err.msg, want);
    assert_int_equal(ckpt_find_latest(dir, "s", SHOT_HASH, 7, found, sizeof(found), &sk, &err),
                     DF_E_NOTFOUND);
    assert_string_equal(sk.items[3].reason, "written for other weights (hash "
                                            "aaaabbbbccccdddd, expected 0000000000000007)");
    assert_int_equal(ckpt_find_latest(dir, "nobody", 0, 0, found, sizeof(found), NULL, &err),
                     DF_E_NOTFOUND);

    /* The next commit removes the leftover temp file and keeps the newer bad ones. */
    assert_int_equal(write_full(dir, "s", 21, CKPT_ENCODING_SHUFFLE_ZSTD, 2, NULL, &err), 0);
    assert_false(exists(dir, "ckpt-s-000045.dfck.tmp-999-1"));
    assert_true(exists(dir, "ckpt-s-000040.dfck"));
    assert_true(exists(dir, "ckpt-s-000030.dfck"));
    assert_true(exists(dir, "ckpt-s-000021.dfck"));
    assert_true(exists(dir, "ckpt-s-000020.dfck"));
    assert_false(exists(dir, "ckpt-s-000010.dfck"));
    assert_true(exists(dir, "ckpt-s-2-000049.dfck"));
    assert_int_equal(ckpt_find_latest(dir, "s", SHOT_HASH, WEIGHTS_HASH, found, sizeof(found),
                                      &sk, &err),
                     0);
    assert_true(strstr(found, "ckpt-s-000021.dfck") != NULL);
    remove_dir(dir);
}

static void test_keep_last(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct df_err err = {0};
    for (int step = 1; step <= 5; step++)
        assert_int_equal(write_full(dir, "k", step, CKPT_ENCODING_SHUFFLE_ZSTD, 2, NULL, &err), 0);
    assert_int_equal(count_files(dir), 2);
    assert_true(exists(dir, "ckpt-k-000004.dfck"));
    assert_true(exists(dir, "ckpt-k-000005.dfck"));
    /* keep_last 0 keeps everything. */
    for (int step = 6; step <= 7; step++)
        assert_int_equal(write_full(dir, "k", step, CKPT_ENCODING_SHUFFLE_ZSTD, 0, NULL, &err), 0);
    assert_int_equal(count_files(dir), 4);
    /* keep_last 1 keeps only the new one. */
    assert_int_equal(write_full(dir, "k", 8, CKPT_ENCODING_SHUFFLE_ZSTD, 1, NULL, &err), 0);
    assert_int_equal(count_files(dir), 1);
    remove_dir(dir);
}

/* A disk that fills up after `budget` bytes. */
struct full_disk {
    size_t budget;  /* bytes it accepts in total */
    size_t written; /* bytes accepted so far */
};

static ssize_t full_disk_write(void *ctx, int fd, const void *buf, size_t len)
{
    struct full_disk *d = ctx;
    if (d->written >= d->budget) {
        errno = ENOSPC;
        return -1;
    }
    size_t n = len < d->budget - d->written ? len : d->budget - d->written;
    ssize_t got = write(fd, buf, n);
    if (got > 0)
        d->written += (size_t)got;
    return got;
}

static void test_disk_full(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct df_err err = {0};
    assert_int_equal(write_full(dir, "d", 10, CKPT_ENCODING_SHUFFLE_ZSTD, 1, NULL, &err), 0);
    char p10[4096];
    path_of(p10, sizeof(p10), dir, "d", 10);
    size_t len10;
    uint8_t *before = slurp(p10, &len10);

    const size_t budgets[] = {0, 1, 255, 256, 1000, 4000, len10 - 17, len10 - 1};
    for (size_t k = 0; k < sizeof(budgets) / sizeof(budgets[0]); k++) {
        struct full_disk disk = {.budget = budgets[k]};
        struct ckpt_io io = {.write = full_disk_write, .ctx = &disk};
        /* keep_last 1 would remove step 10, but only after a durable step 20. */
        assert_int_equal(write_full(dir, "d", 20, CKPT_ENCODING_SHUFFLE_ZSTD, 1, &io, &err),
                         DF_E_IO);
        char want[128];
        snprintf(want, sizeof(want), " after %zu of ", budgets[k]);
        assert_non_null(strstr(err.msg, want));
        assert_non_null(strstr(err.msg, ": No space left on device"));
        assert_non_null(strstr(err.msg, "ckpt-d-000020.dfck.tmp-"));
        assert_int_equal(count_files(dir), 1); /* no temp file, no step 20 */
        /* The same step again: a failed rewrite never damages the good file. */
        disk.written = 0;
        assert_int_equal(write_full(dir, "d", 10, CKPT_ENCODING_SHUFFLE_ZSTD, 1, &io, &err),
                         DF_E_IO);
        size_t len;
        uint8_t *after = slurp(p10, &len);
        assert_int_equal(len, len10);
        assert_memory_equal(after, before, len);
        free(after);
    }
    char found[4096];
    assert_int_equal(ckpt_find_latest(dir, "d", SHOT_HASH, WEIGHTS_HASH, found, sizeof(found),
                                      NULL, &err),
                     0);
    assert_string_equal(found, p10);
    free(before);
    remove_dir(dir);
}

static int failing_fsync(void *ctx, int fd)
{
    (void)ctx;
    (void)fd;
    errno = EIO;
    return -1;
}

static void test_fsync_failure(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct df_err err = {0};
    struct ckpt_io io = {.fsync = failing_fsync};
    assert_int_equal(write_full(dir, "f", 3, CKPT_ENCODING_ZSTD, 1, &io, &err), DF_E_IO);
    assert_non_null(strstr(err.msg, ": Input/output error"));
    assert_true(strncmp(err.msg, "fsync ", 6) == 0);
    assert_int_equal(count_files(dir), 0);
    remove_dir(dir);
}

/* A 128 KiB file declaring 4 GiB of decoded data is refused at open, before
 * any decoding or allocation (ditfarm ckpt inspect used to spend 10 s and
 * 4.2 GB of RSS on it).  Within an explicit larger bound it opens. */
static void test_zstd_bomb(void **state)
{
    (void)state;
    size_t zn, len;
    uint8_t *z = zstd_bomb((uint64_t)4 << 30, &zn);
    assert_true(zn < (200u << 10));
    uint8_t *b = one_section_file(z, zn, (uint64_t)4 << 30, &len);
    struct df_err err = {0};
    ckpt_reader_t *r = NULL;
    assert_int_equal(ckpt_open_mem(b, len, "bomb.dfck", &r, &err), DF_E_RANGE);
    assert_null(r);
    assert_string_equal(err.msg, "bomb.dfck: sections decode to more than 2147483648 bytes "
                                 "(section 'latent' alone declares 4294967296 from 131085 "
                                 "stored): beyond what this shot can hold");
    char *dir = make_dir();
    char path[4096];
    path_of(path, sizeof(path), dir, "s", 3);
    spit(path, b, len);
    assert_int_equal(ckpt_open(path, &r, &err), DF_E_RANGE);
    /* resume's bound is the shot's size: a smaller bound refuses smaller bombs */
    free(z);
    free(b);
    z = zstd_bomb((uint64_t)64 << 20, &zn);
    b = one_section_file(z, zn, (uint64_t)64 << 20, &len);
    spit(path, b, len);
    assert_int_equal(ckpt_open_max(path, (uint64_t)1 << 20, &r, &err), DF_E_RANGE);
    assert_int_equal(ckpt_open_max(path, (uint64_t)128 << 20, &r, &err), 0);
    /* it opens, but does not decode to its (zero) raw checksum */
    assert_int_equal(ckpt_verify_payloads(r, &err), DF_E_CORRUPT);
    assert_non_null(strstr(err.msg, "checksum mismatch in decoded section 'latent'"));
    ckpt_close(r);
    char found[4096];
    struct ckpt_skip_report sk;
    assert_int_equal(ckpt_find_latest_max(dir, "s", SHOT_HASH, WEIGHTS_HASH, (uint64_t)1 << 20,
                                          found, sizeof(found), &sk, &err),
                     DF_E_NOTFOUND);
    assert_int_equal(sk.n, 1);
    assert_non_null(strstr(sk.items[0].reason, "sections decode to more than 1048576 bytes"));
    free(z);
    free(b);
    remove_dir(dir);
}

/* The newest checkpoint opens (its stored bytes match their checksums) but a
 * section does not decode to its raw checksum: find_latest says so and falls
 * back to the previous one, which a resume then uses. */
static void test_find_latest_bad_decode(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct df_err err = {0};
    assert_int_equal(write_full(dir, "s", 10, CKPT_ENCODING_SHUFFLE_ZSTD, 0, NULL, &err), 0);
    assert_int_equal(write_full(dir, "s", 20, CKPT_ENCODING_SHUFFLE_ZSTD, 0, NULL, &err), 0);
    char p10[4096], p20[4096];
    path_of(p10, sizeof(p10), dir, "s", 10);
    path_of(p20, sizeof(p20), dir, "s", 20);
    size_t len;
    uint8_t *b = slurp(p20, &len);
    struct ckpt_layout_info li;
    struct ckpt_meta m;
    assert_int_equal(ckpt_header_unpack(b, &m, &li, &err), 0);
    int hit = 0;
    for (unsigned i = 0; i < li.n_sections; i++) {
        uint8_t *e = b + CKPT_HEADER_SIZE + (size_t)CKPT_ENTRY_SIZE * i;
        struct ckpt_section s;
        assert_int_equal(ckpt_entry_unpack(e, i, &s, &err), 0);
        if (strcmp(s.name, "latent") == 0) {
            s.raw_cksum ^= 1;
            ckpt_entry_pack(e, &s);
            hit = 1;
        }
    }
    assert_true(hit);
    reseal(b, len);
    spit(p20, b, len);
    free(b);
    ckpt_reader_t *r;
    assert_int_equal(ckpt_open(p20, &r, &err), 0); /* the structure is fine */
    ckpt_close(r);
    char found[4096];
    struct ckpt_skip_report sk;
    assert_int_equal(ckpt_find_latest(dir, "s", SHOT_HASH, WEIGHTS_HASH, found, sizeof(found),
                                      &sk, &err),
                     0);
    assert_string_equal(found, p10);
    assert_int_equal(sk.n, 1);
    assert_string_equal(sk.items[0].file, "ckpt-s-000020.dfck");
    assert_string_equal(sk.items[0].reason, "checksum mismatch in decoded section 'latent'");
    remove_dir(dir);
}

/* ---- files in the repository ------------------------------------------------ */

/* A v1 file written once and committed: if the layout ever changes without a
 * version bump, this stops reading. */
static void test_golden_v1(void **state)
{
    (void)state;
    struct df_err err = {0};
    ckpt_reader_t *r;
    assert_int_equal(ckpt_open(DF_TEST_DATA "/ckpt/v1-small.dfck", &r, &err), 0);
    const struct ckpt_meta *m = ckpt_reader_meta(r);
    assert_string_equal(m->shot_id, "golden");
    assert_true(m->shot_hash == 0x0123456789abcdefull);
    assert_true(m->weights_hash == 0xfedcba9876543210ull);
    assert_int_equal(m->step, 12);
    assert_int_equal(m->total_steps, 30);
    assert_int_equal(m->seed, 1234);
    assert_int_equal(m->flags, CKPT_FLAG_ON_SIGNAL);
    assert_int_equal(m->layout_ulysses, 4);
    assert_int_equal(m->layout_world, 8);
    int64_t order;
    double acc[3];
    uint8_t mask[4];
    size_t n;
    static float lat[2 * 8 * 64];
    assert_int_equal(ckpt_get_i64(r, "sampler.order", &order, &err), 0);
    assert_int_equal(order, 2);
    assert_int_equal(ckpt_get_f64s(r, "tea.acc", acc, 3, &err), 0);
    assert_true(acc[0] == 0.5 && acc[1] == 0.25 && acc[2] == 1e-300);
    assert_int_equal(ckpt_get_bytes(r, "tea.mask", mask, sizeof(mask), &n, &err), 0);
    assert_memory_equal(mask, "\1\0\1\1", 4);
    assert_int_equal(ckpt_get_tensor(r, "latent", lat, (int64_t[]){2, 8, 64}, 3, &err), 0);
    uint32_t bits;
    memcpy(&bits, &lat[5], 4);
    assert_int_equal(bits, 0x7fc00001u);
    memcpy(&bits, &lat[6], 4);
    assert_int_equal(bits, 0x00000003u);
    assert_true(fabsf(lat[100] - sinf(5.0f) * 1.0f) < 1e-6f);
    assert_int_equal(ckpt_section_find(r, "latent", &err)->encoding, CKPT_ENCODING_SHUFFLE_ZSTD);
    ckpt_close(r);
}

/* Every file in tests/data/bad/ckpt/ is rejected with its exact message. */
static void test_bad_files(void **state)
{
    (void)state;
    static const struct {
        const char *file, *msg;
    } cases[] = {
        {"truncated.dfck", "truncated: 2000 of 4067 bytes"},
        {"flipped.dfck", "checksum mismatch in section 'latent'"},
        {"version2.dfck", "unsupported format version 2 (this build reads version 1)"},
        {"not-a-checkpoint.dfck", "not a ditfarm checkpoint (bad magic)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[4096], want[8192];
        snprintf(path, sizeof(path), "%s/bad/ckpt/%s", DF_TEST_DATA, cases[i].file);
        snprintf(want, sizeof(want), "%s: %s", path, cases[i].msg);
        struct df_err err = {0};
        ckpt_reader_t *r;
        assert_int_equal(ckpt_open(path, &r, &err), DF_E_CORRUPT);
        assert_null(r);
        assert_string_equal(err.msg, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_shuffle),
        cmocka_unit_test(test_zstd_bomb),
        cmocka_unit_test(test_find_latest_bad_decode),
        cmocka_unit_test(test_round_trip_zstd),
        cmocka_unit_test(test_round_trip_none),
        cmocka_unit_test(test_shuffle_inverse),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_wrong_version),
        cmocka_unit_test(test_getter_errors),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_name_parse),
        cmocka_unit_test(test_find_latest_skips_bad),
        cmocka_unit_test(test_keep_last),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_fsync_failure),
        cmocka_unit_test(test_golden_v1),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
