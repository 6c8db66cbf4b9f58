/*
 * render_model.h -- the model one shot renders with: the kernel backend, the
 * DiT through its family's op table, this rank's forward shape, the VAE
 * (Wan's or CogVideoX's, by latent layout) and the sequence-parallel
 * attention hook.  Made at set-up, before step 1, so a broken part fails
 * early; render.c drives it, render_video.c decodes with its VAE.
 *
 *     struct render_model *md;
 *     if (render_model_create("cpu", 0, 0, "models/tiny", &md, &err) < 0) ...
 *     md->shape = (struct family_shape){...};       // from the latent
 *     render_model_split(md, uly, ring, &ush, &err); // ranks > 1 only
 *     family_reserve(md->dit, &md->shape, &err);
 *     render_model_load_vae(md, 0, 16, &err);
 *     render_model_free(md);
 */
#ifndef DF_RENDER_MODEL_H
#define DF_RENDER_MODEL_H

#include "cogvideox_vae.h"
#include "comm.h"
#include "family.h"
#include "kern.h"
#include "usp_attn.h"
#include "vae.h"

#include <limits.h>
#include <stdint.h>

struct render_model {
    char dir[PATH_MAX];         /* the diffusers model folder */
    kern_backend_t be;
    family_model_t *dit;        /* the DiT, through its family's op table (family.h) */
    struct family_info fi;      /* what the DiT is */
    uint64_t weights_hash;      /* the transformer's fingerprint (model_id.h) */
    struct family_shape shape;  /* this rank's forward: the shot's latent, its tokens */
    struct vae *vae;            /* Wan's VAE, for CTHW latents */
    struct cogvideox_vae *cvae; /* the CogVideoX VAE instead, for TCHW latents */
    struct usp_attn *usp;       /* the attention hook when the sequence is split */
};

/* Make `backend` on device local_rank (ranks sharing a node spread over its
 * devices) and load <dir>/transformer with its family; fingerprint it.
 * Returns 0 and *out (render_model_free, also on failure), or the backend's,
 * loader's or fingerprint's error. */
int render_model_create(const char *backend, int threads, int local_rank, const char *dir,
                        struct render_model **out, struct df_err *err);

/* Split the sequence over ranks: the USP attention hook over the ulysses and
 * ring groups, installed in the DiT. */
int render_model_split(struct render_model *md, comm_t uly, comm_t ring,
                       const struct usp_attn_shape *ush, struct df_err *err);

/* Load <dir>/vae for latents of this layout (1: TCHW, CogVideoX) and check
 * it decodes latent_c channels. */
int render_model_load_vae(struct render_model *md, int tchw, int latent_c, struct df_err *err);

/* Take the attention hook out and free it: before the comm groups it
 * talks over are closed. */
void render_model_unsplit(struct render_model *md);

void render_model_free(struct render_model *md);

#endif /* DF_RENDER_MODEL_H */
