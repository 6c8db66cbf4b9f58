/* fwd_model.c -- the tools' family adapter: config.json _class_name -> the
 * family's load / reserve / forward. */
#include "fwd_model.h"

#include "cogvideox_model.h"
#include "config_json.h"
#include "wan_model.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum fwd_family { FWD_FAMILY_WAN, FWD_FAMILY_COGVIDEOX, FWD_FAMILY_COUNT };

static const char *const k_class[] = {"WanTransformer3DModel", "CogVideoXTransformer3DModel"};
static const char *const k_layout[] = {"[B, C, F, H, W]", "[B, F, C, H, W]"};
_Static_assert(sizeof k_class / sizeof k_class[0] == FWD_FAMILY_COUNT, "family names");

struct fwd_model {
    enum fwd_family fam;
    struct wan_model *wan;
    struct cogvideox_model *cog;
    struct wan_shape wsh;
    struct cogvideox_shape csh;
};

/* The one config.json reader (lib/config_json.h). */
static int class_name(const char *dir, char *cls, size_t cap, struct df_err *err)
{
    return config_json_class_of(dir, cls, cap, err);
}

int fwd_model_load(kern_backend_t be, const char *dir, struct fwd_model **out,
                   struct df_err *err)
{
    *out = NULL;
    char cls[128];
    DF_TRY(class_name(dir, cls, sizeof cls, err));
    int fam = -1;
    for (int i = 0; i < FWD_FAMILY_COUNT; i++)
        if (strcmp(cls, k_class[i]) == 0)
            fam = i;
    DF_FAIL_IF(fam < 0, err, DF_E_UNSUPPORTED,
               "%s/config.json: _class_name '%s' is not a supported transformer (%s, %s)", dir,
               cls, k_class[0], k_class[1]);
    struct fwd_model *m = calloc(1, sizeof *m);
    DF_FAIL_IF(!m, err, DF_E_NOMEM, "out of memory");
    m->fam = (enum fwd_family)fam;
    int rc = m->fam == FWD_FAMILY_WAN ? wan_model_load(be, dir, &m->wan, err)
                                      : cogvideox_model_load(be, dir, &m->cog, err);
    if (rc < 0) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void fwd_model_free(struct fwd_model *m)
{
    if (!m)
        return;
    wan_model_free(m->wan);
    cogvideox_model_free(m->cog);
    free(m);
}

const char *fwd_model_class(const struct fwd_model *m)
{
    return k_class[m->fam];
}

const char *fwd_model_layout(const struct fwd_model *m)
{
    return k_layout[m->fam];
}

int fwd_model_has_ofs(const struct fwd_model *m)
{
    return m->cog && cogvideox_model_config(m->cog)->ofs_embed_dim > 0;
}

int fwd_model_layers(const struct fwd_model *m)
{
    return m->wan ? wan_model_config(m->wan)->num_layers
                  : cogvideox_model_config(m->cog)->num_layers;
}

int fwd_model_prepare(struct fwd_model *m, const int64_t in[4], int64_t text_len,
                      int64_t text_dim, int64_t out[4], struct df_err *err)
{
    /* Wan [C, F, H, W], CogVideoX [F, C, H, W]: the channel axis differs. */
    const int cax = m->fam == FWD_FAMILY_WAN ? 0 : 1;
    const int want_c = m->wan ? wan_model_config(m->wan)->in_channels
                              : cogvideox_model_config(m->cog)->in_channels;
    const int want_t = m->wan ? wan_model_config(m->wan)->text_dim
                              : cogvideox_model_config(m->cog)->text_dim;
    const int out_c = m->wan ? wan_model_config(m->wan)->out_channels
                             : cogvideox_model_config(m->cog)->out_channels;
    DF_FAIL_IF(in[cax] != want_c || text_dim != want_t, err, DF_E_INVAL,
               "hidden_states %s has %lld channels and text %lld features; the model wants %d "
               "and %d",
               k_layout[m->fam], (long long)in[cax], (long long)text_dim, want_c, want_t);
    for (int i = 0; i < 4; i++)
        DF_FAIL_IF(in[i] <= 0 || in[i] > (1 << 20), err, DF_E_INVAL,
                   "hidden_states axis %d has size %lld", i + 1, (long long)in[i]);
    DF_FAIL_IF(text_len <= 0 || text_len > (1 << 20), err, DF_E_INVAL, "text length %lld",
               (long long)text_len);
    memcpy(out, in, 4 * sizeof *out);
    out[cax] = out_c;
    if (m->wan) {
        m->wsh = (struct wan_shape){.frames = (int)in[1], .height = (int)in[2],
                                    .width = (int)in[3], .text_len = (int)text_len};
        return wan_model_reserve(m->wan, &m->wsh, err);
    }
    m->csh = (struct cogvideox_shape){.frames = (int)in[0], .height = (int)in[2],
                                      .width = (int)in[3], .text_len = (int)text_len};
    return cogvideox_model_reserve(m->cog, &m->csh, err);
}

int fwd_model_forward(struct fwd_model *m, const float *x, float timestep, float ofs,
                      const float *text, float *out, struct df_err *err)
{
    if (m->wan)
        return wan_model_forward(m->wan, &m->wsh, x, timestep, text, out, err);
    return cogvideox_model_forward(m->cog, &m->csh, x, timestep, ofs, text, out, err);
}
