/*
 * cfg.h -- classifier-free guidance: combine the conditional and the
 * unconditional model outputs into the velocity the sampler steps with,
 *     v = uncond + g * (cond - uncond)
 * exactly as diffusers' Wan pipeline writes it (float32, in that order).
 * Elementwise, so each rank combines its own token shard; with cfg=2 ranks
 * (one per branch) the worker exchanges the shard first and then calls this.
 *
 *     if (shot_guided(shot)) {          // lib/manifest.h: the one rule
 *         model(latent, t, text_cond, cond);
 *         model(latent, t, text_neg,  uncond);
 *         cfg_combine(cond, uncond, g, n, velocity);
 *     } else {
 *         model(latent, t, text_cond, velocity);
 *     }
 */
#ifndef DF_CFG_H
#define DF_CFG_H

#include <stddef.h>

/* out[i] = uncond[i] + g * (cond[i] - uncond[i]) for i < n.  out may alias
 * cond or uncond.  Cannot fail. */
void cfg_combine(const float *cond, const float *uncond, float g, size_t n, float *out);

#endif /* DF_CFG_H */
