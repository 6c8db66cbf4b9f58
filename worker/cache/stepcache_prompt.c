/*
 * stepcache_prompt.c -- PromptTea's threshold from prompt complexity
 * (docs/stepcache.md, "Decisions are planned"): the token mean of the positive prompt's
 * text-encoder output is compared, by cosine similarity, with reference
 * vectors of "simple" and "complex" prompts; a sigmoid of the complex share
 * mixes tau_lo (complex: skip less) and tau_hi (simple: skip more).
 *
 * The references are data shipped with PromptTea (Apache-2.0), copied into
 * configs/models/prompttea/ (see SOURCES there) and read at run time as raw
 * little-endian bf16 [n, dim].  The reference code computes in bf16; we use
 * float64, which moves tau by at most ~0.007 near r = 0.5.
 */
#include "stepcache.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load_bf16(const char *path, int dim, float **out, int *rows, struct df_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return df_err_errno(err, errno == ENOENT ? DF_E_NOTFOUND : DF_E_IO, "cannot open %s", path);
    int rc = 0;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    rewind(f);
    const long row_bytes = 2L * dim;
    if (size <= 0 || size % row_bytes != 0) {
        fclose(f);
        return df_err_set(err, DF_E_PARSE,
                          "%s: %ld bytes is not a whole number of bf16 rows of %d values", path,
                          size, dim);
    }
    const size_t n = (size_t)(size / 2);
    uint16_t *raw = malloc(n * sizeof *raw);
    float *v = malloc(n * sizeof *v);
    if (!raw || !v) {
        rc = df_err_set(err, DF_E_NOMEM, "%s: out of memory", path);
    } else if (fread(raw, 2, n, f) != n) {
        rc = df_err_set(err, DF_E_IO, "%s: short read", path);
    } else {
        for (size_t i = 0; i < n; i++) {
            const uint8_t *b = (const uint8_t *)&raw[i]; /* little-endian on disk */
            uint32_t bits = ((uint32_t)b[0] | (uint32_t)b[1] << 8) << 16;
            memcpy(&v[i], &bits, sizeof bits);
        }
    }
    fclose(f);
    free(raw);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *rows = (int)(size / row_bytes);
    return 0;
}

void stepcache_refs_free(struct stepcache_refs *r)
{
    if (!r)
        return;
    free(r->simple);
    free(r->complex);
    memset(r, 0, sizeof *r);
}

int stepcache_refs_load(const char *simple_path, const char *complex_path, int dim,
                        struct stepcache_refs *out, struct df_err *err)
{
    memset(out, 0, sizeof *out);
    DF_FAIL_IF(dim <= 0, err, DF_E_INVAL, "reference dimension %d", dim);
    out->dim = dim;
    int rc = load_bf16(simple_path, dim, &out->simple, &out->n_simple, err);
    if (rc == 0)
        rc = load_bf16(complex_path, dim, &out->complex, &out->n_complex, err);
    if (rc < 0)
        stepcache_refs_free(out);
    return rc;
}

static double cosine(const double *m, double m_norm, const float *ref, int dim)
{
    double dot = 0, rr = 0;
    for (int i = 0; i < dim; i++) {
        dot += m[i] * ref[i];
        rr += (double)ref[i] * ref[i];
    }
    return rr > 0 ? dot / (m_norm * sqrt(rr)) : 0.0;
}

int stepcache_prompt_tau(const struct stepcache_refs *refs, const float *emb, int n_tokens, int dim,
                         double lo, double hi, double k, double *tau, double *r_out,
                         struct df_err *err)
{
    DF_FAIL_IF(dim != refs->dim, err, DF_E_INVAL,
               "prompt embeddings have %d values per token, the references %d", dim, refs->dim);
    DF_FAIL_IF(n_tokens <= 0, err, DF_E_INVAL, "prompt has no tokens");
    double *m = calloc((size_t)dim, sizeof *m);
    DF_FAIL_IF(!m, err, DF_E_NOMEM, "out of memory");
    for (int j = 0; j < n_tokens; j++)
        for (int i = 0; i < dim; i++)
            m[i] += emb[(size_t)j * dim + i];
    double norm = 0;
    for (int i = 0; i < dim; i++) {
        m[i] /= n_tokens;
        norm += m[i] * m[i];
    }
    norm = sqrt(norm);
    if (!(norm > 0)) {
        free(m);
        return df_err_set(err, DF_E_INVAL, "prompt embedding mean is zero");
    }
    double s = 0, c = 0;
    for (int j = 0; j < refs->n_simple; j++)
        s += cosine(m, norm, refs->simple + (size_t)j * dim, dim);
    for (int j = 0; j < refs->n_complex; j++)
        c += cosine(m, norm, refs->complex + (size_t)j * dim, dim);
    free(m);
    s /= refs->n_simple;
    c /= refs->n_complex;
    const double r = c / (s + c + 1e-6);
    const double w = 1.0 / (1.0 + exp(-k * (r - 0.5)));
    *tau = w * lo + (1.0 - w) * hi;
    if (r_out)
        *r_out = r;
    return 0;
}

int stepcache_tau(const struct shot_cache *policy, const struct stepcache_calib *cal,
                  const float *text, int n_tokens, int text_dim, double *tau, char *source,
                  size_t source_cap, struct df_err *err)
{
    *tau = policy->threshold;
    if (policy->policy == CACHE_POLICY_OFF) {
        *tau = 0;
        snprintf(source, source_cap, "cache off");
        return 0;
    }
    if (policy->policy == CACHE_POLICY_TEACACHE) {
        snprintf(source, source_cap, "manifest threshold");
        return 0;
    }
    if (!text || n_tokens <= 0) {
        snprintf(source, source_cap,
                 "manifest threshold (no text-encoder embeddings of the prompt to measure)");
        return 0;
    }
    if (!cal->ref_dim || cal->ref_dim != text_dim) {
        snprintf(source, source_cap,
                 "manifest threshold (no prompt-complexity references for text_dim %d)", text_dim);
        return 0;
    }
    struct stepcache_refs refs;
    DF_TRY(stepcache_refs_load(cal->ref_simple, cal->ref_complex, cal->ref_dim, &refs, err));
    double r = 0;
    int rc = stepcache_prompt_tau(&refs, text, n_tokens, text_dim, policy->thresh_lo,
                                  policy->thresh_hi, policy->k, tau, &r, err);
    stepcache_refs_free(&refs);
    DF_TRY(rc);
    snprintf(source, source_cap, "prompt complexity r=%.3f (lo %g, hi %g, k %g)", r,
             policy->thresh_lo, policy->thresh_hi, policy->k);
    return 0;
}
