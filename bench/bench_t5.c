/* bench_t5.c -- the umT5 text encoder (worker/model/t5/) on an umT5-XXL-shaped
 * encoder: d_model 4096, d_ff 10240, 64 heads x 64, `--layers` of its 24 blocks
 * (default 2), synthetic BF16 weights written to a scratch folder and mmapped,
 * one prompt of `--tokens` real tokens (default 512).
 *
 * Printed side by side, from one run:
 *   sgemm peak      kern_linear on a resident fp32 [10240, 4096] weight with
 *                   M = tokens (best of 3): the GEMM rate this machine gives
 *   encoder         t5_encoder_encode, weights streamed from the mapping
 *                   (loaded per matmul), best of 3 interleaved with the peak
 *                   runs (the first also pays the page faults of the mapping);
 *                   its rate as % of the best peak
 *   conversion      the streaming overhead alone: every matrix loaded into a
 *                   backend weight of its shape (kern_weight_load_bf16), no matmul
 *   memory          peak RSS split into anonymous (conversion buffer, one
 *                   backend weight, activations: independent of the layer
 *                   count) and file-backed (the mapped weights touched), and
 *                   the accounting for all 24 blocks + umT5's 256384-row
 *                   embedding: weights (bf16) + anonymous peak
 *
 * Usage: bench_t5 [--layers N] [--tokens S] [--threads T] [--dir DIR]
 * (bench/bench_t5.sh runs it and transformers on torch on the same shape.)
 */
#include "kern.h"
#include "safetensors.h"
#include "t5_encoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define D_MODEL 4096
#define D_FF 10240
#define HEADS 64
#define D_KV 64
#define VOCAB 4096          /* the bench's embedding; the real one is accounted below */
#define XXL_VOCAB 256384
#define XXL_LAYERS 24

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':')
            v = atol(line + n + 1);
    if (f)
        fclose(f);
    return v;
}

/* Reset VmHWM to the current RSS (Linux: clear_refs 5). */
static void reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

/* Small bf16 values from a xorshift stream (uniform in ±scale). */
static uint16_t *bf16_noise(size_t n, uint64_t seed, float scale)
{
    uint16_t *v = malloc(n * sizeof *v);
    if (!v)
        return NULL;
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        float u = ((float)(x >> 40) / (float)(1 << 24) * 2.0f - 1.0f) * scale;
        v[i] = safetensors_f32_to_bf16(u);
    }
    return v;
}

static int write_model(const char *dir, int layers, struct df_err *err)
{
    char path[4200];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return df_err_errno(err, DF_E_IO, "%s", path);
    fprintf(f,
            "{\"model_type\": \"umt5\", \"vocab_size\": %d, \"d_model\": %d, \"d_kv\": %d, "
            "\"d_ff\": %d, \"num_layers\": %d, \"num_heads\": %d, \"feed_forward_proj\": "
            "\"gated-gelu\"}\n",
            VOCAB, D_MODEL, D_KV, D_FF, layers, HEADS);
    fclose(f);
    int n = 2 + layers * 10, k = 0;
    struct safetensors_entry *e = calloc((size_t)n, sizeof *e);
    const void **raw = calloc((size_t)n, sizeof *raw);
    char(*names)[96] = calloc((size_t)n, sizeof *names);
    const int in = HEADS * D_KV;
    struct {
        const char *leaf;
        int r, c;
    } parts[] = {{"0.layer_norm", D_MODEL, 0},  {"0.SelfAttention.q", in, D_MODEL},
                 {"0.SelfAttention.k", in, D_MODEL}, {"0.SelfAttention.v", in, D_MODEL},
                 {"0.SelfAttention.o", D_MODEL, in}, {"0.SelfAttention.relative_attention_bias", 32, HEADS},
                 {"1.layer_norm", D_MODEL, 0},  {"1.DenseReluDense.wi_0", D_FF, D_MODEL},
                 {"1.DenseReluDense.wi_1", D_FF, D_MODEL}, {"1.DenseReluDense.wo", D_MODEL, D_FF}};
    snprintf(names[k], 96, "shared.weight");
    e[k] = (struct safetensors_entry){.name = names[k], .dtype = SAFETENSORS_DTYPE_BF16, .ndim = 2,
                                      .shape = {VOCAB, D_MODEL}};
    raw[k] = bf16_noise((size_t)VOCAB * D_MODEL, 1, 1.0f), k++;
    snprintf(names[k], 96, "encoder.final_layer_norm.weight");
    e[k] = (struct safetensors_entry){.name = names[k], .dtype = SAFETENSORS_DTYPE_BF16, .ndim = 1,
                                      .shape = {D_MODEL}};
    raw[k] = bf16_noise(D_MODEL, 2, 1.0f), k++;
    for (int l = 0; l < layers; l++)
        for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++, k++) {
            snprintf(names[k], 96, "encoder.block.%d.layer.%s.weight", l, parts[p].leaf);
            int c = parts[p].c;
            e[k] = (struct safetensors_entry){.name = names[k], .dtype = SAFETENSORS_DTYPE_BF16,
                                              .ndim = c ? 2 : 1, .shape = {parts[p].r, c}};
            raw[k] = bf16_noise((size_t)parts[p].r * (c ? c : 1), (uint64_t)k + 3,
                                c ? 1.0f / 64.0f : 1.0f);
        }
    int rc = 0;
    for (int i = 0; i < n; i++)
        if (!raw[i])
            rc = df_err_set(err, DF_E_NOMEM, "out of memory generating weights");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (rc == 0)
        rc = safetensors_write_raw(path, e, raw, n, NULL, 0, err);
    for (int i = 0; i < n; i++)
        free((void *)raw[i]);
    free(raw), free(e), free(names);
    return rc;
}

static double sgemm_peak(kern_backend_t be, int M, struct df_err *err)
{
    float *w = malloc((size_t)D_FF * D_MODEL * sizeof *w);
    float *x = kern_alloc(be, (size_t)M * D_MODEL, err), *y = kern_alloc(be, (size_t)M * D_FF, err);
    struct kern_weight *kw = NULL;
    double best = 1e30;
    if (w && x && y) {
        for (size_t i = 0; i < (size_t)D_FF * D_MODEL; i++)
            w[i] = (float)((i * 2654435761u) % 1000) * 1e-5f;
        for (size_t i = 0; i < (size_t)M * D_MODEL; i++)
            x[i] = (float)(i % 17) * 0.01f;
        if (kern_weight_create(be, w, D_FF, D_MODEL, &kw, err) == 0)
            for (int r = 0; r < 3; r++) {
                double t0 = now_s();
                kern_linear(be, x, kw, NULL, y, M, D_MODEL, D_FF, err);
                kern_sync(be, err);
                double t = now_s() - t0;
                best = t < best ? t : best;
            }
    }
    kern_weight_free(be, kw);
    kern_release(be, x), kern_release(be, y);
    free(w);
    return 2.0 * M * D_MODEL * D_FF / best / 1e9;
}

/* The streaming overhead alone, as the encoder streams: every layer matrix
 * loaded into a backend weight of its shape (kern_weight_load_bf16), no
 * matmul; the slots are made before the clock starts. */
static double convert_only(const char *dir, kern_backend_t be, int layers, struct df_err *err)
{
    struct safetensors *st;
    if (safetensors_open_model(dir, "model", &st, err) < 0)
        return -1;
    const int in = HEADS * D_KV, shapes[4][2] = {{in, D_MODEL}, {D_MODEL, in}, {D_FF, D_MODEL},
                                                  {D_MODEL, D_FF}};
    struct kern_weight *slot[4] = {0};
    float *zero = calloc((size_t)D_FF * D_MODEL, sizeof *zero);
    for (int i = 0; zero && i < 4; i++)
        kern_weight_create(be, zero, shapes[i][0], shapes[i][1], &slot[i], err);
    free(zero);
    double t0 = now_s();
    for (int i = 0; i < safetensors_count(st); i++) {
        const struct safetensors_tensor *t = safetensors_at(st, i);
        if (t->ndim != 2 || strstr(t->name, "relative") || !strncmp(t->name, "shared", 6))
            continue;
        for (int k = 0; k < 4; k++)
            if (slot[k] && t->shape[0] == shapes[k][0] && t->shape[1] == shapes[k][1])
                kern_weight_load_bf16(be, slot[k], t->data, err);
    }
    double dt = now_s() - t0;
    for (int k = 0; k < 4; k++)
        kern_weight_free(be, slot[k]);
    safetensors_close(st);
    (void)layers;
    return dt;
}

int main(int argc, char **argv)
{
    int layers = 2, tokens = 512, threads = 0;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--layers") && i + 1 < argc)
            layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc)
            tokens = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: bench_t5 [--layers N] [--tokens S] [--threads T] [--dir DIR]\n");
            return 2;
        }
    }
    char tmp[] = "/tmp/bench_t5_XXXXXX";
    if (!dir && !(dir = mkdtemp(tmp))) {
        perror("mkdtemp");
        return 1;
    }
    struct df_err err = {0};
    double t0 = now_s();
    if (write_model(dir, layers, &err) < 0) {
        fprintf(stderr, "bench_t5: %s\n", err.msg);
        return 1;
    }
    printf("umT5-XXL-shaped encoder: d_model %d, d_ff %d, %d heads x %d, %d of %d blocks, BF16 "
           "weights in %s (written in %.1f s), %d tokens\n",
           D_MODEL, D_FF, HEADS, D_KV, layers, XXL_LAYERS, dir, now_s() - t0, tokens);
    kern_backend_t be;
    if (kern_backend_create("cpu", threads, &be, &err) < 0) {
        fprintf(stderr, "bench_t5: %s\n", err.msg);
        return 1;
    }
    /* Peak and encoder interleaved, best of each: a shared machine's load
     * moves both, and the best of each is what the machine can do. */
    reset_peak();
    long anon0 = status_kb("RssAnon");
    t5_encoder_t enc;
    if (t5_encoder_open(dir, be, NULL, &enc, &err) < 0) {
        fprintf(stderr, "bench_t5: %s\n", err.msg);
        return 1;
    }
    int64_t *ids = malloc((size_t)tokens * sizeof *ids);
    float *out = malloc((size_t)tokens * D_MODEL * sizeof *out);
    for (int i = 0; i < tokens; i++)
        ids[i] = 2 + (i * 7919) % (VOCAB - 2);
    ids[tokens - 1] = 1;
    double best = 1e30, first = 0, peak = 0;
    long hwm = 0, hwm_anon = 0, file_at = 0; /* kB, during the encoder runs */
    for (int r = 0; r < 3; r++) {
        double p = sgemm_peak(be, tokens, &err);
        peak = p > peak ? p : peak;
        reset_peak(); /* the encoder's own peak, not the sgemm run's buffers */
        double a = now_s();
        if (t5_encoder_encode(enc, ids, &tokens, 1, tokens, out, &err) < 0) {
            fprintf(stderr, "bench_t5: %s\n", err.msg);
            return 1;
        }
        double t = now_s() - a;
        long h = status_kb("VmHWM"), f = status_kb("RssFile");
        if (h - f > hwm_anon)
            hwm_anon = h - f, hwm = h, file_at = f;
        if (r == 0)
            first = t;
        best = t < best ? t : best;
    }
    printf("sgemm peak (kern_linear %dx%dx%d, fp32 weight resident, best of 9 around the "
           "encoder runs): %.1f GFLOP/s\n",
           tokens, D_MODEL, D_FF, peak);
    long anon = status_kb("RssAnon"), file = file_at;
    const double in = HEADS * D_KV;
    double flops = (double)layers * (2.0 * tokens * D_MODEL * (4.0 * in + 3.0 * D_FF) +
                                     4.0 * (double)tokens * tokens * in);
    double rate = flops / best / 1e9;
    printf("encoder (weights streamed from the mapping per matmul, best of 3): %.3f s (first call "
           "%.3f s), "
           "%.1f GFLOP/s = %.0f%% of the sgemm peak\n",
           best, first, rate, 100.0 * rate / peak);
    double conv = convert_only(dir, be, layers, &err);
    printf("  of which streaming (kern_weight_load_bf16 of every matrix, %d blocks): %.3f s = "
           "%.0f%%\n",
           layers, conv, 100.0 * conv / best);
    t5_encoder_free(enc);

    double w_layer = 2.0 * ((double)D_MODEL * (4 * in + 3.0 * D_FF) + 2 * D_MODEL + 32 * HEADS);
    double w_all = w_layer * XXL_LAYERS + 2.0 * (double)XXL_VOCAB * D_MODEL + 2.0 * D_MODEL;
    double anon_peak = (double)(anon - anon0 > 0 ? anon - anon0 : 0) * 1024;
    printf("memory: peak RSS %.0f MiB (now: anonymous %.0f MiB, +%.0f MiB over the backend, "
           "file-backed %.0f MiB = the mapped weights touched)\n",
           hwm / 1024.0, anon / 1024.0, anon_peak / 1048576.0, file / 1024.0);
    double acct = w_all + (double)hwm * 1024 - (double)file * 1024;
    printf("accounting for all %d blocks + the %d-row embedding: BF16 weights %.2f GiB + "
           "anonymous peak %.2f GiB = %.2f GiB (target <= weights + 1 GiB: %s)\n",
           XXL_LAYERS, XXL_VOCAB, w_all / 1073741824.0,
           ((double)hwm * 1024 - (double)file * 1024) / 1073741824.0, acct / 1073741824.0,
           acct <= w_all + 1073741824.0 ? "met" : "NOT met");
    free(ids), free(out);
    kern_backend_free(be);
    if (!strncmp(dir, "/tmp/bench_t5_", 14)) {
        char path[4200];
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/config.json", dir);
        unlink(path);
        rmdir(dir);
    }
    return 0;
}
