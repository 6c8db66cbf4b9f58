/*
 * sampler_state.c -- a sampler's state for checkpoints: scalars, history
 * tensors, and the one-blob form of both.
 *
 * Blob layout (all little-endian; 128-byte header, then the tensors):
 *
 *   off  size  meaning
 *     0     8  magic "DFSAMPLR"
 *     8     4  version (1)
 *    12     4  header size in bytes (128)
 *    16     4  kind (enum sampler_kind)
 *    20     4  steps
 *    24     8  shift (IEEE double)
 *    32     4  num_train_timesteps
 *    36     4  solver_order
 *    40     4  solver (enum sampler_solver)
 *    44     4  lower_order_final (0/1)
 *    48     4  final_sigma (enum sampler_final_sigma)
 *    52     4  reserved, 0
 *    56     8  disable_corrector bit mask
 *    64     8  shard offset (elements)
 *    72     8  shard length n (elements)
 *    80     8  latent total (elements)
 *    88     4  next_step
 *    92     4  lower_order_nums
 *    96     4  this_order
 *   100     4  n_model_outputs
 *   104     4  has_last_sample (0/1)
 *   108     8  cogvideox kinds: FNV-1a 64 of the ddpm config (betas, schedule,
 *              snr_shift_scale, rescale, set_alpha_to_one, steps_offset,
 *              spacing, prediction); 0 for the flow kinds
 *   116    12  reserved, 0
 *   128  4*n*K the K = n_model_outputs + has_last_sample history tensors in
 *              sampler_history() order, float32 each
 *
 * The enclosing checkpoint carries the checksum; this blob only refuses what
 * cannot belong to the sampler it is loaded into.
 */
#include <string.h>

#include "sampler_int.h"

#define STATE_MAGIC "DFSAMPLR"
#define STATE_VERSION 1u
#define STATE_HEADER 128u

static uint64_t ddpm_fingerprint(const struct sampler_config *c);

/* ------------------------------------------------------------------------ */
/* Scalars and tensors                                                        */
/* ------------------------------------------------------------------------ */

void sampler_scalars_get(const struct sampler *s, struct sampler_scalars *out)
{
    memset(out, 0, sizeof *out);
    out->next_step = s->next_step;
    out->lower_order_nums = s->lower_order_nums;
    out->this_order = s->this_order;
    out->n_model_outputs = s->n_out;
    out->has_last_sample = s->has_last;
}

int sampler_scalars_set(sampler_t s, const struct sampler_scalars *sc, struct df_err *err)
{
    const struct sampler_config *c = &s->cfg;
    DF_FAIL_IF(sc->next_step < 0 || sc->next_step > c->steps, err, DF_E_CORRUPT,
               "sampler state: next_step %d outside 0..%d", (int)sc->next_step, c->steps);
    const int taken = sc->next_step;
    if (c->kind == SAMPLER_KIND_UNIPC) {
        /* Both counters grow by one per step up to the order (see unipc_step). */
        const int held = taken < c->solver_order ? taken : c->solver_order;
        DF_FAIL_IF(sc->lower_order_nums != held || sc->n_model_outputs != held, err, DF_E_CORRUPT,
                   "sampler state: unipc after %d steps holds %d x0s, not %d (lower_order_nums "
                   "%d)",
                   taken, held, (int)sc->n_model_outputs, (int)sc->lower_order_nums);
        DF_FAIL_IF(sc->has_last_sample != (taken > 0), err, DF_E_CORRUPT,
                   "sampler state: has_last_sample %d after %d steps", (int)sc->has_last_sample,
                   taken);
        DF_FAIL_IF(taken > 0 ? sc->this_order < 1 || sc->this_order > held : sc->this_order != 0,
                   err, DF_E_CORRUPT, "sampler state: this_order %d after %d steps",
                   (int)sc->this_order, taken);
    } else if (c->kind == SAMPLER_KIND_COGVIDEOX_DPM) {
        /* the previous step's x0, once a step was taken */
        DF_FAIL_IF(sc->n_model_outputs != (taken > 0) || sc->lower_order_nums ||
                       sc->has_last_sample || sc->this_order,
                   err, DF_E_CORRUPT, "sampler state: cogvideox_dpm after %d steps holds %d x0s",
                   taken, (int)sc->n_model_outputs);
    } else {
        DF_FAIL_IF(
            sc->lower_order_nums || sc->n_model_outputs || sc->has_last_sample || sc->this_order,
            err, DF_E_CORRUPT, "sampler state: %s keeps no history", sampler_kind_name(c->kind));
    }
    s->next_step = sc->next_step;
    s->lower_order_nums = sc->lower_order_nums;
    s->this_order = sc->this_order;
    s->n_out = sc->n_model_outputs;
    s->has_last = sc->has_last_sample != 0;
    return 0;
}

int sampler_history_count(const struct sampler *s)
{
    return s->n_out + (s->has_last ? 1 : 0);
}

float *sampler_history(sampler_t s, int k)
{
    if (k < 0 || k >= sampler_history_count(s) || s->n == 0)
        return NULL;
    return k < s->n_out ? s->out[k] : s->last_sample;
}

const char *sampler_history_name(const struct sampler *s, int k)
{
    static const char *const names[SAMPLER_MAX_ORDER] = {"model_output.0", "model_output.1",
                                                         "model_output.2", "model_output.3"};
    if (k < 0 || k >= sampler_history_count(s))
        return "?";
    return k < s->n_out ? names[k] : "last_sample";
}

/* ------------------------------------------------------------------------ */
/* Blob                                                                       */
/* ------------------------------------------------------------------------ */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_f64(unsigned char *p, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    put_u64(p, v);
}

static double get_f64(const unsigned char *p)
{
    const uint64_t v = get_u64(p);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

size_t sampler_state_size(const struct sampler *s)
{
    return STATE_HEADER + (size_t)sampler_history_count(s) * s->n * sizeof(float);
}

int sampler_state_save(const struct sampler *s, void *dst, size_t dst_cap, size_t *written,
                       struct df_err *err)
{
    const size_t need = sampler_state_size(s);
    DF_FAIL_IF(dst_cap < need, err, DF_E_RANGE, "sampler state: needs %zu bytes, buffer has %zu",
               need, dst_cap);
    unsigned char *p = dst;
    const struct sampler_config *c = &s->cfg;
    memset(p, 0, STATE_HEADER);
    memcpy(p, STATE_MAGIC, 8);
    put_u32(p + 8, STATE_VERSION);
    put_u32(p + 12, STATE_HEADER);
    put_u32(p + 16, (uint32_t)c->kind);
    put_u32(p + 20, (uint32_t)c->steps);
    put_f64(p + 24, c->shift);
    put_u32(p + 32, (uint32_t)c->num_train_timesteps);
    put_u32(p + 36, (uint32_t)c->solver_order);
    put_u32(p + 40, (uint32_t)c->solver);
    put_u32(p + 44, c->lower_order_final ? 1u : 0u);
    put_u32(p + 48, (uint32_t)c->final_sigma);
    put_u64(p + 56, c->disable_corrector);
    put_u64(p + 64, s->offset);
    put_u64(p + 72, s->n);
    put_u64(p + 80, s->total);
    put_u32(p + 88, (uint32_t)s->next_step);
    put_u32(p + 92, (uint32_t)s->lower_order_nums);
    put_u32(p + 96, (uint32_t)s->this_order);
    put_u32(p + 100, (uint32_t)s->n_out);
    put_u32(p + 104, s->has_last ? 1u : 0u);
    put_u64(p + 108, ddpm_fingerprint(c));

    unsigned char *q = p + STATE_HEADER;
    for (int k = 0; k < sampler_history_count(s); k++) {
        const float *t = k < s->n_out ? s->out[k] : s->last_sample;
        for (size_t j = 0; j < s->n; j++, q += 4) {
            uint32_t bits;
            memcpy(&bits, &t[j], sizeof bits);
            put_u32(q, bits);
        }
    }
    if (written)
        *written = need;
    return 0;
}

/* Fingerprint of the ddpm config (0 for the flow kinds, whose blobs keep
 * these bytes reserved). */
static uint64_t ddpm_fingerprint(const struct sampler_config *c)
{
    if (c->kind != SAMPLER_KIND_COGVIDEOX_DDIM && c->kind != SAMPLER_KIND_COGVIDEOX_DPM)
        return 0;
    const struct sampler_ddpm_config *d = &c->ddpm;
    const double dv[3] = {d->beta_start, d->beta_end, d->snr_shift_scale};
    const int32_t iv[6] = {(int32_t)d->beta_schedule, d->rescale_betas_zero_snr,
                           d->set_alpha_to_one,       d->steps_offset,
                           (int32_t)d->spacing,       (int32_t)d->prediction};
    unsigned char buf[sizeof dv + sizeof iv];
    memcpy(buf, dv, sizeof dv);
    memcpy(buf + sizeof dv, iv, sizeof iv);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < sizeof buf; i++)
        h = (h ^ buf[i]) * 0x100000001b3ull;
    return h;
}

/* The config fields of the blob must equal the sampler's own. */
static int check_config(const struct sampler *s, const unsigned char *p, struct df_err *err)
{
    const struct sampler_config *c = &s->cfg;
    const struct {
        const char *name;
        uint64_t blob, mine;
    } fields[] = {
        {"kind", get_u32(p + 16), (uint32_t)c->kind},
        {"steps", get_u32(p + 20), (uint32_t)c->steps},
        {"num_train_timesteps", get_u32(p + 32), (uint32_t)c->num_train_timesteps},
        {"solver_order", get_u32(p + 36), (uint32_t)c->solver_order},
        {"solver", get_u32(p + 40), (uint32_t)c->solver},
        {"lower_order_final", get_u32(p + 44), c->lower_order_final ? 1u : 0u},
        {"final_sigma", get_u32(p + 48), (uint32_t)c->final_sigma},
        {"disable_corrector", get_u64(p + 56), c->disable_corrector},
        {"shard offset", get_u64(p + 64), s->offset},
        {"shard length", get_u64(p + 72), s->n},
        {"latent total", get_u64(p + 80), s->total},
        {"ddpm config fingerprint", get_u64(p + 108), ddpm_fingerprint(c)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        DF_FAIL_IF(fields[i].blob != fields[i].mine, err, DF_E_INVAL,
                   "sampler state: %s is %llu in the checkpoint but %llu here", fields[i].name,
                   (unsigned long long)fields[i].blob, (unsigned long long)fields[i].mine);
    const double shift = get_f64(p + 24);
    DF_FAIL_IF(memcmp(&shift, &c->shift, sizeof shift) != 0, err, DF_E_INVAL,
               "sampler state: shift is %.17g in the checkpoint but %.17g here", shift, c->shift);
    return 0;
}

int sampler_state_load(sampler_t s, const void *src, size_t src_len, struct df_err *err)
{
    const unsigned char *p = src;
    DF_FAIL_IF(src_len < STATE_HEADER || memcmp(p, STATE_MAGIC, 8) != 0, err, DF_E_CORRUPT,
               "sampler state: no '%s' header in %zu bytes", STATE_MAGIC, src_len);
    DF_FAIL_IF(get_u32(p + 8) != STATE_VERSION || get_u32(p + 12) != STATE_HEADER, err,
               DF_E_CORRUPT, "sampler state: version %u header %u (this build reads %u/%u)",
               get_u32(p + 8), get_u32(p + 12), STATE_VERSION, STATE_HEADER);
    DF_TRY(check_config(s, p, err));

    const struct sampler_scalars sc = {
        .next_step = (int32_t)get_u32(p + 88),
        .lower_order_nums = (int32_t)get_u32(p + 92),
        .this_order = (int32_t)get_u32(p + 96),
        .n_model_outputs = (int32_t)get_u32(p + 100),
        .has_last_sample = (int32_t)get_u32(p + 104),
    };
    struct sampler_scalars old;
    sampler_scalars_get(s, &old);
    DF_TRY(sampler_scalars_set(s, &sc, err));
    const size_t need = sampler_state_size(s);
    if (src_len != need) {
        sampler_scalars_set(s, &old, NULL);
        return df_err_set(err, DF_E_CORRUPT, "sampler state: %zu bytes, expected %zu", src_len,
                          need);
    }
    const unsigned char *q = p + STATE_HEADER;
    for (int k = 0; k < sampler_history_count(s); k++) {
        float *t = k < s->n_out ? s->out[k] : s->last_sample;
        for (size_t j = 0; j < s->n; j++, q += 4) {
            const uint32_t bits = get_u32(q);
            memcpy(&t[j], &bits, sizeof bits);
        }
    }
    return 0;
}
