/*
 * fuzz_stepcache.c -- libFuzzer target for the step cache's two readers
 * (worker/cache/stepcache.h): an input starting with the mask magic "DFSM" goes to
 * stepcache_mask_load (checkpoint section, broadcast bytes), anything else to
 * stepcache_calib_parse (calibration JSON).  What loads is then used: the
 * mask is described, counted, turned into sidecar JSON and saved again; the
 * calibration is checked against every policy and its numbers evaluated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stepcache.h"

static void use_mask(const struct stepcache_mask *m)
{
    char line[96];
    for (int i = 0; i < m->steps; i++)
        stepcache_mask_describe(m, i, line, sizeof line);
    int64_t c, t;
    stepcache_mask_passes(m, &c, &t);
    if (c > t)
        abort();
    (void)stepcache_mask_speedup(m, 0.9);
    cJSON_Delete(stepcache_mask_json(m));
    size_t n = stepcache_mask_size(m), w = 0;
    uint8_t *buf = malloc(n);
    struct df_err err = {0};
    if (buf && stepcache_mask_save(m, buf, n, &w, &err) == 0) {
        struct stepcache_mask back;
        if (stepcache_mask_load(buf, w, &back, &err) != 0 || back.steps != m->steps ||
            memcmp(back.flags, m->flags, (size_t)m->steps) != 0)
            abort(); /* what was saved must load again, identically */
        stepcache_mask_free(&back);
    }
    free(buf);
}

static void use_calib(const struct stepcache_calib *c)
{
    struct df_err err = {0};
    for (int p = 0; p < CACHE_POLICY_COUNT; p++)
        for (int m = 0; m < CACHE_MODE_COUNT; m++) {
            struct shot_cache pol = {.policy = p, .mode = m, .cfg_threshold = 0.02};
            (void)stepcache_calib_check(c, &pol, "unipc", 50, &err);
        }
    for (int m = 0; m < CACHE_MODE_COUNT; m++)
        if (c->has_poly[m])
            (void)stepcache_poly_eval(c->poly[m], 0.02);
    if (c->has_fit)
        (void)stepcache_fit_eval(c->fit_b, c->fit_w, 0.02, 10);
    if (c->cfg_table) {
        uint8_t *skip = malloc((size_t)c->steps);
        if (skip)
            stepcache_cfg_skips(c->cfg_table, c->steps, 0.02, skip);
        free(skip);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct df_err err = {0};
    if (size >= 4 && memcmp(data, "DFSM", 4) == 0) {
        struct stepcache_mask m;
        if (stepcache_mask_load(data, size, &m, &err) == 0) {
            use_mask(&m);
            stepcache_mask_free(&m);
        }
        return 0;
    }
    struct stepcache_calib c;
    if (stepcache_calib_parse((const char *)data, size, "/fuzz/calib.json", &c, &err) == 0) {
        use_calib(&c);
        stepcache_calib_clear(&c);
    }
    return 0;
}
