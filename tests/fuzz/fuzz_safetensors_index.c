/*
 * fuzz_safetensors_index.c -- libFuzzer target for sharded safetensors
 * models (worker/model/safetensors.c: the `<stem>.safetensors.index.json`
 * reader and the cross-check of its weight_map against the shards).  The
 * input is the index file; the scratch folder holds two small valid shards,
 * a.safetensors (tensors "x", "y") and b.safetensors ("z"), so mutations of
 * a real index reach the shard loading and the mapping checks.
 * Seeds: tests/fuzz/corpus/safetensors_index.
 */
#include "fuzz_util.h"

#include "safetensors.h"

static void make_shards(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    const float v[4] = {1, 2, 3, 4};
    struct safetensors_entry a[2] = {
        {.name = "x", .dtype = SAFETENSORS_DTYPE_F32, .ndim = 1, .shape = {2}, .data = v},
        {.name = "y", .dtype = SAFETENSORS_DTYPE_BF16, .ndim = 2, .shape = {1, 2}, .data = v},
    };
    struct safetensors_entry b = {.name = "z", .dtype = SAFETENSORS_DTYPE_F16, .ndim = 1,
                                  .shape = {4}, .data = v};
    char path[300];
    struct df_err err = {0};
    fuzz_path(path, sizeof path, "a.safetensors");
    if (safetensors_write(path, a, 2, NULL, 0, &err) < 0)
        abort();
    fuzz_path(path, sizeof path, "b.safetensors");
    if (safetensors_write(path, &b, 1, NULL, 0, &err) < 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    make_shards();
    char path[300];
    fuzz_path(path, sizeof path, "m.safetensors.index.json");
    fuzz_write(path, data, size);
    struct safetensors *st = NULL;
    struct df_err err = {0};
    if (safetensors_open_model(fuzz_dir(), "m", &st, &err) == 0) {
        for (int i = 0; i < safetensors_count(st); i++) {
            const struct safetensors_tensor *t = safetensors_at(st, i);
            float out[4];
            if (!t || t->numel > 4)
                abort();
            (void)safetensors_to_f32(t, out, (size_t)t->numel, &err);
        }
        safetensors_close(st);
    } else if (st) {
        abort(); /* a failed open leaves nothing */
    }
    return 0;
}
