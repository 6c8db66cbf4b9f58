/*
 * fuzz_sampler_state.c -- libFuzzer target for the sampler state blob reader
 * (sampler_state_load in worker/sampler/sampler_state.c).
 *
 * Byte 0 picks the sampler (kind, order, steps, shard); the rest is the blob.
 * Random bytes would stop at the config comparison, so when byte 1 is odd the
 * magic, version and config fields of the blob are overwritten with the
 * sampler's own, sending mutated scalars and sizes into the state checks.  A
 * blob that loads is then stepped to the end to exercise the restored history.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"

static void put32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

/* Overwrite the header fields that must match (layout: sampler_state.c). */
static void fix_header(uint8_t *b, size_t len, const struct sampler_config *c, size_t off, size_t n,
                       size_t total)
{
    if (len < 128)
        return;
    memcpy(b, "DFSAMPLR", 8);
    put32(b + 8, 1);
    put32(b + 12, 128);
    put32(b + 16, (uint32_t)c->kind);
    put32(b + 20, (uint32_t)c->steps);
    uint64_t shift;
    memcpy(&shift, &c->shift, sizeof shift);
    put64(b + 24, shift);
    put32(b + 32, (uint32_t)c->num_train_timesteps);
    put32(b + 36, (uint32_t)c->solver_order);
    put32(b + 40, (uint32_t)c->solver);
    put32(b + 44, c->lower_order_final ? 1u : 0u);
    put32(b + 48, (uint32_t)c->final_sigma);
    put64(b + 56, c->disable_corrector);
    put64(b + 64, off);
    put64(b + 72, n);
    put64(b + 80, total);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct sampler_config cfg;
    sampler_config_init(&cfg, (data[0] & 1) ? SAMPLER_KIND_UNIPC : SAMPLER_KIND_EULER);
    cfg.solver_order = 1 + (data[0] >> 1) % SAMPLER_MAX_ORDER;
    cfg.steps = 1 + (data[0] >> 3) % 6;
    const size_t n = (data[0] >> 6) % 3, off = 1, total = 4;

    sampler_t s = NULL;
    if (sampler_create(&cfg, off, n, total, &s, NULL) < 0)
        return 0;
    uint8_t *blob = malloc(size - 2 + 1);
    if (!blob) {
        sampler_free(s);
        return 0;
    }
    memcpy(blob, data + 2, size - 2);
    if (data[1] & 1)
        fix_header(blob, size - 2, &cfg, off, n, total);

    struct df_err err = {0};
    if (sampler_state_load(s, blob, size - 2, &err) == 0) {
        float x[2] = {0.5f, -0.5f}, v[2] = {0.25f, 0.125f};
        for (int i = sampler_next_step(s); i < cfg.steps; i++)
            if (sampler_step(s, i, v, x, n, &err) < 0)
                abort(); /* a loaded state must be steppable */
    }
    free(blob);
    sampler_free(s);
    return 0;
}
