/* render_model.c -- the model a shot renders with (see render_model.h). */
#include "render_model.h"

#include "model_id.h"

#include <stdio.h>
#include <stdlib.h>

int render_model_create(const char *backend, int threads, int local_rank, const char *dir,
                        struct render_model **out, struct df_err *err)
{
    struct render_model *md = calloc(1, sizeof(*md));
    *out = md;
    DF_FAIL_IF(!md, err, DF_E_NOMEM, "out of memory for the model");
    snprintf(md->dir, sizeof(md->dir), "%s", dir);
    DF_TRY(kern_backend_create_on(backend, threads, local_rank, &md->be, err));
    DF_TRY(family_load(md->be, dir, &md->dit, err));
    family_info(md->dit, &md->fi);
    char tdir[PATH_MAX + 16];
    snprintf(tdir, sizeof(tdir), "%s/transformer", dir);
    return model_id_weights(tdir, &md->weights_hash, err);
}

int render_model_split(struct render_model *md, comm_t uly, comm_t ring,
                       const struct usp_attn_shape *ush, struct df_err *err)
{
    DF_TRY(usp_attn_create(md->be, uly, ring, ush, &md->usp, err));
    struct family_attn_hook hook = usp_attn_hook(md->usp);
    family_set_attn_hook(md->dit, &hook);
    return 0;
}

int render_model_load_vae(struct render_model *md, int tchw, int latent_c, struct df_err *err)
{
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof(dir), "%s/vae", md->dir);
    if (tchw) { /* CogVideoX latents: AutoencoderKLCogVideoX */
        DF_TRY(cogvideox_vae_load(md->be, dir, &md->cvae, err));
        const struct cogvideox_vae_info *ci = cogvideox_vae_get_info(md->cvae);
        DF_FAIL_IF(ci->latent_channels != latent_c, err, DF_E_INVAL,
                   "%s: the VAE decodes %d latent channels, the transformer makes %d", dir,
                   ci->latent_channels, latent_c);
        return 0;
    }
    DF_TRY(vae_load(md->be, dir, &md->vae, err));
    const struct vae_info *vi = vae_get_info(md->vae);
    DF_FAIL_IF(vi->z_dim != latent_c, err, DF_E_INVAL,
               "%s: the VAE decodes %d latent channels, the transformer makes %d", dir,
               vi->z_dim, latent_c);
    return 0;
}

void render_model_unsplit(struct render_model *md)
{
    if (!md || !md->usp)
        return;
    family_set_attn_hook(md->dit, NULL);
    usp_attn_free(md->usp);
    md->usp = NULL;
}

void render_model_free(struct render_model *md)
{
    if (!md)
        return;
    render_model_unsplit(md);
    vae_free(md->vae);
    cogvideox_vae_free(md->cvae);
    family_free(md->dit);
    kern_backend_free(md->be);
    free(md);
}
