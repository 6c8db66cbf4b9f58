/* manifest_enum.c -- name tables of the manifest enums (see manifest.h).
 * The names are the YAML spellings, also used by the CLI and in logs. */
#include "manifest.h"

#include <string.h>

static const char *const k_samplers[] = {"euler", "unipc"};
_Static_assert(sizeof(k_samplers) / sizeof(k_samplers[0]) == SAMPLER_COUNT,
               "every sampler needs a name");

static const char *const k_cache_policies[] = {"off", "teacache", "prompttea"};
_Static_assert(sizeof(k_cache_policies) / sizeof(k_cache_policies[0]) == CACHE_POLICY_COUNT,
               "every cache_policy needs a name");

static const char *const k_cache_modes[] = {"e", "e0"};
_Static_assert(sizeof(k_cache_modes) / sizeof(k_cache_modes[0]) == CACHE_MODE_COUNT,
               "every cache_mode needs a name");

static const char *const k_codecs[] = {"h264", "hevc", "prores", "ffv1", "png"};
_Static_assert(sizeof(k_codecs) / sizeof(k_codecs[0]) == CODEC_COUNT,
               "every codec needs a name");

static int lookup(const char *const *names, int count, const char *name)
{
    for (int i = 0; name && i < count; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

const char *sampler_name(enum shot_sampler s)
{
    return (unsigned)s < SAMPLER_COUNT ? k_samplers[s] : "?";
}

int sampler_from_name(const char *name, enum shot_sampler *out)
{
    int i = lookup(k_samplers, SAMPLER_COUNT, name);
    if (i < 0)
        return DF_E_INVAL;
    *out = (enum shot_sampler)i;
    return 0;
}

const char *cache_policy_name(enum cache_policy p)
{
    return (unsigned)p < CACHE_POLICY_COUNT ? k_cache_policies[p] : "?";
}

int cache_policy_from_name(const char *name, enum cache_policy *out)
{
    int i = lookup(k_cache_policies, CACHE_POLICY_COUNT, name);
    if (i < 0)
        return DF_E_INVAL;
    *out = (enum cache_policy)i;
    return 0;
}

const char *cache_mode_name(enum cache_mode m)
{
    return (unsigned)m < CACHE_MODE_COUNT ? k_cache_modes[m] : "?";
}

int cache_mode_from_name(const char *name, enum cache_mode *out)
{
    int i = lookup(k_cache_modes, CACHE_MODE_COUNT, name);
    if (i < 0)
        return DF_E_INVAL;
    *out = (enum cache_mode)i;
    return 0;
}

const char *codec_name(enum codec c)
{
    return (unsigned)c < CODEC_COUNT ? k_codecs[c] : "?";
}

int codec_from_name(const char *name, enum codec *out)
{
    int i = lookup(k_codecs, CODEC_COUNT, name);
    if (i < 0)
        return DF_E_INVAL;
    *out = (enum codec)i;
    return 0;
}
