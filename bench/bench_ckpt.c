/*
 * bench_ckpt.c -- checkpoint write/read speed and compression ratio, with and
 * without the byte-plane shuffle, for Wan2.1-1.3B-sized state:
 *
 *   latent: 16 x 21 x 60 x 104 f32 (832x480, 81 frames), the flow-matching
 *           state halfway through: x_t = 0.5 * smooth + 0.5 * N(0,1);
 *   cache:  PromptTea residuals, 32760 x 1536 f32 per branch, cond + uncond,
 *           entries ~ N(0,1);
 *   cache-bf16: the same residuals rounded to bf16 values and widened back
 *           to f32, which is what the CUDA backend's bf16 activations look
 *           like once gathered to f32 for the checkpoint (16 zero low bits).
 *
 * Each row runs the real API end to end: put (shuffle + zstd + checksums),
 * commit (write, fsync, rename, fsync dir) into DIR, then evicts the file
 * from the page cache, opens it (verifies every checksum) and decodes every
 * tensor, checking the result bit for bit.  MB/s are over raw bytes; times
 * are the best of REPS runs (the dev VM is shared: the minimum is the least
 * disturbed by other load).
 *
 *   bench_ckpt [DIR] [REPS] [THREADS]   (defaults /tmp/df_bench_ckpt, 3, 0)
 */
#include "ckpt.h"
#include "ckpt_shuffle.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPS 9

struct tensor {
    const char *name;
    float *data;
    int64_t ext[4];
    int ndims;
    size_t n;
};

struct config {
    const char *label;
    enum ckpt_encoding enc;
    int level;
};

static const struct config k_configs[] = {
    {"none", CKPT_ENCODING_NONE, 3},
    {"zstd -1", CKPT_ENCODING_ZSTD, 1},
    {"zstd -3", CKPT_ENCODING_ZSTD, 3},
    {"shuffle+zstd -1", CKPT_ENCODING_SHUFFLE_ZSTD, 1},
    {"shuffle+zstd -3", CKPT_ENCODING_SHUFFLE_ZSTD, 3},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* xorshift64* + Box-Muller: reproducible N(0,1) without libc state. */
static double gauss(uint64_t *s)
{
    double u[2];
    for (int k = 0; k < 2; k++) {
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        u[k] = ((double)((*s * 0x2545F4914F6CDD1Dull) >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

static void fill_latent(float *v, uint64_t seed)
{
    uint64_t s = seed;
    size_t i = 0;
    for (int c = 0; c < 16; c++)
        for (int t = 0; t < 21; t++)
            for (int h = 0; h < 60; h++)
                for (int w = 0; w < 104; w++, i++) {
                    double smooth = sin(0.11 * w + 0.7 * c) * cos(0.13 * h - 0.05 * t) +
                                    0.3 * sin(0.02 * (w + h) + c);
                    v[i] = (float)(0.5 * smooth + 0.5 * gauss(&s));
                }
}

static void fill_gauss(float *v, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++)
        v[i] = (float)gauss(&s);
}

/* Round to the nearest bf16 (ties to even) and widen back; NaN-free input. */
static void to_bf16_values(float *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], 4);
        u += 0x7fffu + ((u >> 16) & 1u);
        u &= 0xffff0000u;
        memcpy(&dst[i], &u, 4);
    }
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double best(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_d);
    return v[0];
}

static void evict(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

/* One row: returns 0, or -1 after printing why. */
static int run(const char *dir, const char *data_label, const struct tensor *ts, int nt,
               const struct config *cfg, int reps, int threads)
{
    double t_enc[MAX_REPS], t_wr[MAX_REPS], t_open[MAX_REPS], t_dec[MAX_REPS];
    uint64_t raw = 0, file = 0;
    for (int i = 0; i < nt; i++)
        raw += ts[i].n * 4;
    for (int rep = 0; rep < reps; rep++) {
        struct df_err err = {0};
        struct ckpt_meta m = {.shot_hash = 1, .weights_hash = 2, .step = rep, .total_steps = 50,
                              .layout_cfg = 2, .layout_ulysses = 4, .layout_ring = 1,
                              .layout_world = 8};
        snprintf(m.shot_id, sizeof(m.shot_id), "bench");
        struct ckpt_write_opts o;
        ckpt_write_opts_init(&o);
        o.encoding = cfg->enc;
        o.zstd_level = cfg->level;
        o.zstd_threads = threads;
        o.keep_last = 1;
        ckpt_writer_t *w;
        struct ckpt_commit_info info;
        int rc = ckpt_writer_create(&m, &o, &w, &err);
        double t0 = now_s();
        for (int i = 0; rc == 0 && i < nt; i++)
            rc = ckpt_writer_put_tensor(w, ts[i].name, ts[i].data, ts[i].ext, ts[i].ndims, &err);
        double t1 = now_s();
        if (rc == 0)
            rc = ckpt_writer_commit(w, dir, &info, &err);
        double t2 = now_s();
        ckpt_writer_free(w);
        if (rc < 0) {
            fprintf(stderr, "bench_ckpt: %s\n", err.msg);
            return -1;
        }
        file = info.file_bytes;
        evict(info.path);
        ckpt_reader_t *r;
        double t3 = now_s();
        rc = ckpt_open(info.path, &r, &err);
        double t4 = now_s();
        for (int i = 0; rc == 0 && i < nt; i++) {
            float *back = malloc(ts[i].n * 4);
            rc = back ? ckpt_get_tensor(r, ts[i].name, back, ts[i].ext, ts[i].ndims, &err) : -1;
            if (rc == 0 && memcmp(back, ts[i].data, ts[i].n * 4) != 0) {
                fprintf(stderr, "bench_ckpt: %s: round trip differs\n", ts[i].name);
                rc = -1;
            }
            free(back);
        }
        double t5 = now_s();
        ckpt_close(r);
        if (rc < 0) {
            fprintf(stderr, "bench_ckpt: %s\n", err.msg);
            return -1;
        }
        t_enc[rep] = t1 - t0;
        t_wr[rep] = t2 - t1;
        t_open[rep] = t4 - t3;
        t_dec[rep] = t5 - t4;
    }
    double mb = (double)raw / 1e6;
    double enc = best(t_enc, reps), wr = best(t_wr, reps), op = best(t_open, reps),
           dec = best(t_dec, reps);
    printf("| %-10s | %-15s | %7.1f | %6.1f | %5.3f | %7.3f | %7.3f | %7.0f | %7.3f | %7.3f | "
           "%7.0f |\n",
           data_label, cfg->label, mb, (double)file / 1e6, (double)raw / (double)file, enc, wr,
           mb / (enc + wr), op, dec, mb / (op + dec));
    fflush(stdout);
    return 0;
}

/* Shuffle alone, for the record. */
static void shuffle_speed(const struct tensor *t)
{
    uint8_t *tmp = malloc(t->n * 4), *back = malloc(t->n * 4);
    if (!tmp || !back) {
        free(tmp);
        free(back);
        return;
    }
    double t0 = 0, t1 = 0, t2 = 0;
    for (int pass = 0; pass < 2; pass++) { /* the first pass pays the page faults */
        t0 = now_s();
        ckpt_shuffle(tmp, t->data, t->n, 4);
        t1 = now_s();
        ckpt_unshuffle(back, tmp, t->n, 4);
        t2 = now_s();
    }
    printf("\nshuffle alone on %s (%.1f MB): shuffle %.0f MB/s, unshuffle %.0f MB/s\n", t->name,
           (double)t->n * 4 / 1e6, (double)t->n * 4 / 1e6 / (t1 - t0),
           (double)t->n * 4 / 1e6 / (t2 - t1));
    free(tmp);
    free(back);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp/df_bench_ckpt";
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    int threads = argc > 3 ? atoi(argv[3]) : 0;
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "usage: bench_ckpt [DIR] [REPS 1..%d] [ZSTD_THREADS]\n", MAX_REPS);
        return 2;
    }
    mkdir(dir, 0755);
    struct tensor lat = {"latent", NULL, {16, 21, 60, 104}, 4, (size_t)16 * 21 * 60 * 104};
    struct tensor res[2] = {
        {"tea.residual_cond", NULL, {32760, 1536}, 2, (size_t)32760 * 1536},
        {"tea.residual_uncond", NULL, {32760, 1536}, 2, (size_t)32760 * 1536},
    };
    lat.data = malloc(lat.n * 4);
    res[0].data = malloc(res[0].n * 4);
    res[1].data = malloc(res[1].n * 4);
    if (!lat.data || !res[0].data || !res[1].data) {
        fprintf(stderr, "bench_ckpt: out of memory\n");
        return 1;
    }
    fill_latent(lat.data, 7);
    fill_gauss(res[0].data, res[0].n, 11);
    fill_gauss(res[1].data, res[1].n, 13);

    printf("checkpoint write/read into %s, best of %d, zstd threads %d\n\n", dir, reps,
           threads);
    printf("| data       | encoding        | raw MB  | file MB | ratio | put s   | commit s| write "
           "MB/s | open s  | decode s| read MB/s |\n");
    printf("|------------|-----------------|--------:|-------:|------:|--------:|--------:|--------"
           ":|--------:|--------:|--------:|\n");
    size_t nc = sizeof(k_configs) / sizeof(k_configs[0]);
    for (size_t c = 0; c < nc; c++)
        if (run(dir, "latent", &lat, 1, &k_configs[c], reps, threads) < 0)
            return 1;
    for (size_t c = 0; c < nc; c++)
        if (run(dir, "cache", res, 2, &k_configs[c], reps, threads) < 0)
            return 1;
    to_bf16_values(res[0].data, res[0].data, res[0].n);
    to_bf16_values(res[1].data, res[1].data, res[1].n);
    for (size_t c = 0; c < nc; c++)
        if (run(dir, "cache-bf16", res, 2, &k_configs[c], reps, threads) < 0)
            return 1;
    shuffle_speed(&res[0]);
    struct df_err err = {0};
    ckpt_dir_prune(dir, "bench", INT64_MAX, 1, NULL, NULL, &err);
    free(lat.data);
    free(res[0].data);
    free(res[1].data);
    return 0;
}
