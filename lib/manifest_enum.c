/* manifest_enum.c -- name tables of the manifest enums (see manifest.h).
 * The names are the YAML spellings, also used by the CLI and in logs. */
#include "manifest.h"

#include <string.h>

/* NULL-terminated, so the YAML reader (get_choice) walks the same tables. */
const char *const sampler_kind_names[] = {"euler", "unipc", "cogvideox_ddim", "cogvideox_dpm",
                                          NULL};
_Static_assert(sizeof(sampler_kind_names) / sizeof(sampler_kind_names[0]) == SAMPLER_KIND_COUNT + 1,
               "every sampler_kind needs a name");

const char *const cache_policy_names[] = {"off", "teacache", "prompttea", NULL};
_Static_assert(sizeof(cache_policy_names) / sizeof(cache_policy_names[0]) ==
                   CACHE_POLICY_COUNT + 1,
               "every cache_policy needs a name");

const char *const cache_mode_names[] = {"e", "e0", NULL};
_Static_assert(sizeof(cache_mode_names) / sizeof(cache_mode_names[0]) == CACHE_MODE_COUNT + 1,
               "every cache_mode needs a name");

const char *const codec_names[] = {"h264", "hevc", "prores", "ffv1", "png", NULL};
_Static_assert(sizeof(codec_names) / sizeof(codec_names[0]) == CODEC_COUNT + 1,
               "every codec needs a name");

static int lookup(const char *const *names, int count, const char *name)
{
    for (int i = 0; name && i < count; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

const char *sampler_kind_name(enum sampler_kind k)
{
    return (unsigned)k < SAMPLER_KIND_COUNT ? sampler_kind_names[k] : "?";
}

int sampler_kind_from_name(const char *name, enum sampler_kind *out, struct df_err *err)
{
    int i = lookup(sampler_kind_names, SAMPLER_KIND_COUNT, name);
    if (i < 0)
        return df_err_set(err, DF_E_INVAL,
                          "unknown sampler '%s' (expected one of: euler, unipc, cogvideox_ddim, "
                          "cogvideox_dpm)",
                          name ? name : "(null)");
    *out = (enum sampler_kind)i;
    return 0;
}

const char *cache_policy_name(enum cache_policy p)
{
    return (unsigned)p < CACHE_POLICY_COUNT ? cache_policy_names[p] : "?";
}

int cache_policy_from_name(const char *name, enum cache_policy *out)
{
    int i = lookup(cache_policy_names, CACHE_POLICY_COUNT, name);
    if (i < 0)
        return DF_E_INVAL;
    *out = (enum cache_policy)i;
    return 0;
}

const char *cache_mode_name(enum cache_mode m)
{
    return (unsigned)m < CACHE_MODE_COUNT ? cache_mode_names[m] : "?";
}

int cache_mode_from_name(const char *name, enum cache_mode *out)
{
    int i = lookup(cache_mode_names, CACHE_MODE_COUNT, name);
    if (i < 0)
        return DF_E_INVAL;
    *out = (enum cache_mode)i;
    return 0;
}

const char *codec_name(enum codec c)
{
    return (unsigned)c < CODEC_COUNT ? codec_names[c] : "?";
}

int codec_from_name(const char *name, enum codec *out)
{
    int i = lookup(codec_names, CODEC_COUNT, name);
    if (i < 0)
        return DF_E_INVAL;
    *out = (enum codec)i;
    return 0;
}
