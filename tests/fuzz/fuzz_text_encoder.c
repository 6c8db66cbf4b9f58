/*
 * fuzz_text_encoder.c -- libFuzzer target for the text encoder's readers.
 * The first byte picks the reader, the rest is its input:
 *   0: a text_encoder/config.json (t5_config_load); a loaded config then
 *      goes through the bucket rule over +-600 (every bucket in range);
 *   1: a model folder's other parts (lib/model_folder.c): text_encoder/
 *      config.json, then after a NUL byte vae/config.json, then after another
 *      scheduler/scheduler_config.json (absent parts stay absent), read and
 *      checked against a fixed Wan geometry.
 * Seeds: tests/fuzz/corpus/text_encoder (first byte set).
 */
#include "fuzz_util.h"

#include "model_folder.h"
#include "t5_config.h"

static void t5_config(const uint8_t *d, size_t n)
{
    char path[256];
    fuzz_path(path, sizeof path, "config.json");
    fuzz_write(path, d, n);
    struct t5_config c;
    struct df_err err = {0};
    if (t5_config_load(path, &c, &err) < 0)
        return;
    if (c.inner_dim != c.num_heads * c.d_kv || c.num_buckets < 4)
        abort();
    for (int rel = -600; rel <= 600; rel++) {
        int b = t5_relative_bucket(rel, c.num_buckets, c.max_distance);
        if (b < 0 || b >= c.num_buckets)
            abort();
    }
}

static void folder(const uint8_t *d, size_t n)
{
    char dir[256], p[3][320];
    const char *rel[3] = {"text_encoder", "vae", "scheduler"};
    const char *file[3] = {"config.json", "config.json", "scheduler_config.json"};
    fuzz_path(dir, sizeof dir, "m");
    mkdir(dir, 0700);
    const uint8_t *part = d;
    size_t left = n;
    for (int i = 0; i < 3; i++) {
        snprintf(p[i], sizeof p[i], "%s/%s", dir, rel[i]);
        mkdir(p[i], 0700);
        strcat(p[i], "/");
        strcat(p[i], file[i]);
        if (!part) {
            unlink(p[i]);
            continue;
        }
        size_t n1, n2;
        const uint8_t *next = fuzz_split(part, left, 0, &n1, &n2);
        fuzz_write(p[i], part, n1);
        part = next, left = n2;
    }
    struct model_folder f;
    struct model_geom g = {.in_channels = 16, .out_channels = 16, .text_dim = 4096};
    struct df_err err = {0};
    if (model_folder_read(dir, &f, &err) == 0) {
        (void)model_folder_check_fit(dir, &f, &g, &err);
        if (f.sched.has_flow_shift && !(f.sched.flow_shift > 0))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    if (data[0] % 2 == 0)
        t5_config(data + 1, size - 1);
    else
        folder(data + 1, size - 1);
    return 0;
}
