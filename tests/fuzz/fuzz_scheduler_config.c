/*
 * fuzz_scheduler_config.c -- libFuzzer target for the scheduler_config.json
 * reader (worker/sampler/sampler_json.c).  The first byte picks the step
 * count (1..40), the rest is the file.  A config that loads is handed to
 * sampler_create (its own checks: spacing that overshoots, timesteps out of
 * range) and a sampler that exists takes every step on a few elements, with
 * a noise source for the stochastic kinds: no step may make a NaN out of
 * finite inputs unless the schedule itself ends there (checked loosely: the
 * harness only asks for no crash and no UB).
 * Seeds: tests/fuzz/corpus/scheduler_config (diffusers' own files).
 */
#include "fuzz_util.h"

#include "sampler.h"
#include "sampler_json.h"

static int zero_noise(void *user, int step, int draw, size_t offset, size_t n, float *dst,
                      struct df_err *err)
{
    (void)user, (void)step, (void)draw, (void)offset, (void)err;
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)(i % 3) - 1.0f;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    char path[300];
    fuzz_path(path, sizeof path, "scheduler_config.json");
    fuzz_write(path, data + 1, size - 1);
    struct sampler_config c;
    struct df_err err = {0};
    if (sampler_config_load_json(path, &c, &err) < 0)
        return 0;
    c.steps = 1 + data[0] % 40;
    sampler_t s;
    if (sampler_create(&c, 0, 8, 8, &s, &err) < 0)
        return 0;
    sampler_set_noise(s, zero_noise, NULL);
    float x[8] = {0.5f, -1, 2, 0, 1, -0.25f, 3, -2}, v[8] = {0.1f, 0.2f, -0.3f, 0, 1, 1, -1, 0.5f};
    for (int i = 0; i < c.steps; i++) {
        (void)sampler_timestep(s, i);
        (void)sampler_sigma(s, i);
        if (sampler_step(s, i, v, x, 8, &err) < 0)
            break;
    }
    sampler_free(s);
    return 0;
}
