/*
 * cfg.c -- classifier-free guidance combine (see cfg.h).
 */
#include "cfg.h"

void cfg_combine(const float *cond, const float *uncond, float g, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const float u = uncond[i];
        out[i] = u + g * (cond[i] - u);
    }
}
