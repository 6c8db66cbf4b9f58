/*
 * wan_tokens.c -- wan_config_tokens(), the token count of a latent.  Apart
 * from wan_config.c because it needs no JSON: the device check
 * (bench/gpu/) builds the model without cJSON.
 */
#include "wan_config.h"

long long wan_config_tokens(const struct wan_config *c, int t, int h, int w, struct df_err *err)
{
    const int sz[3] = {t, h, w};
    static const char *const axis[3] = {"frames", "height", "width"};
    long long n = 1;
    for (int i = 0; i < 3; i++) {
        DF_FAIL_IF(sz[i] <= 0 || sz[i] % c->patch[i], err, DF_E_INVAL,
                   "latent %s %d is not a positive multiple of the patch size %d", axis[i], sz[i],
                   c->patch[i]);
        DF_FAIL_IF(sz[i] / c->patch[i] > c->rope_max_seq_len, err, DF_E_INVAL,
                   "latent %s %d gives %d patches, beyond rope_max_seq_len %d", axis[i], sz[i],
                   sz[i] / c->patch[i], c->rope_max_seq_len);
        n *= sz[i] / c->patch[i];
    }
    return n;
}
