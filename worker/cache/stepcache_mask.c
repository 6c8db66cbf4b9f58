/*
 * stepcache_mask.c -- plan a shot's whole skip mask up front (stepcache.h).
 *
 * Rules (docs/stepcache.md; cond and uncond keep separate accumulators in
 * the reference, but both see the same v, so their decisions coincide and
 * one accumulator stands for both):
 *   rel_i = mean|v_i - v_{i-1}| / mean|v_{i-1}|, v = e (mode e) or e0 (mode e0
 *           and PromptTea), v_prev replaced every step;
 *   teacache:  forced steps compute and reset (mode e: 0 and N-1; mode e0:
 *              0..4); else acc += P(rel_i), skip while acc < tau, otherwise
 *              compute and reset;
 *   prompttea: step 0 forced; acc += yhat(rel_i, i) (may be negative); same
 *              skip rule.  DynCFGCache on the uncond pass: acc_cfg += q_i for
 *              i >= 1, "reuse cond" while acc_cfg < cfg_threshold, else reset;
 *              step 0 resets.  Uncond: skip if the step rule says skip, else
 *              reuse cond if the CFG rule says so, else compute.
 * All sums in double.
 *
 * Serialized mask (little-endian), STEPCACHE mask version 1:
 *   off  size  meaning
 *     0     4  magic "DFSM"
 *     4     4  u32 version = 1
 *     8     4  i32 steps (1..STEPCACHE_MAX_STEPS)
 *    12     1  u8 policy (enum cache_policy)
 *    13     1  u8 mode (enum cache_mode)
 *    14     1  u8 guided (0/1)
 *    15     1  u8 reserved = 0
 *    16     8  f64 tau
 *    24     8  f64 cfg_threshold
 *    32   160  tau_source, NUL-padded
 *   192 steps  u8 flags per step (STEPCACHE_F_*)
 */
#include "stepcache.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MASK_MAGIC "DFSM"
#define MASK_VERSION 1u
#define MASK_HEADER 192u

static const char *const k_branch_names[] = {"cond", "uncond"};
_Static_assert(sizeof k_branch_names / sizeof k_branch_names[0] == STEPCACHE_BRANCH_COUNT,
               "every stepcache_branch needs a name");
static const char *const k_action_names[] = {"computed", "skipped", "reused cond"};
_Static_assert(sizeof k_action_names / sizeof k_action_names[0] == STEPCACHE_ACTION_COUNT,
               "every stepcache_action needs a name");

const char *stepcache_branch_name(enum stepcache_branch b)
{
    return (unsigned)b < STEPCACHE_BRANCH_COUNT ? k_branch_names[b] : "?";
}

const char *stepcache_action_name(enum stepcache_action a)
{
    return (unsigned)a < STEPCACHE_ACTION_COUNT ? k_action_names[a] : "?";
}

int stepcache_family_time_embed(void *user, float t, float *e, float *e0, struct df_err *err)
{
    return family_time_embed(user, t, e, e0, err);
}

void stepcache_cfg_skips(const double *q, int steps, double threshold, uint8_t *skip)
{
    double acc = 0.0;
    for (int i = 0; i < steps; i++) {
        skip[i] = 0;
        if (i == 0) {
            acc = 0.0;
            continue;
        }
        acc += q[i];
        if (acc < threshold)
            skip[i] = 1;
        else
            acc = 0.0;
    }
}

static double rel_l1(const float *cur, const float *prev, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += fabs((double)cur[i] - (double)prev[i]);
        den += fabs((double)prev[i]);
    }
    return den > 0 ? num / den : 0.0;
}

/* rel[i] for i >= 1 (rel[0] = 0) of the compared vector over the schedule. */
static int schedule_rel(const struct stepcache_plan_in *in, int use_e0, double *rel,
                        struct df_err *err)
{
    const size_t d = (size_t)in->dim, d0 = in->e0_dim > 0 ? (size_t)in->e0_dim : 6 * d;
    const size_t n = use_e0 ? d0 : d;
    float *buf = malloc((d + d0) * 2 * sizeof(float));
    DF_FAIL_IF(!buf, err, DF_E_NOMEM, "out of memory planning the step cache");
    float *e[2] = {buf, buf + d + d0}, *e0[2] = {buf + d, buf + 2 * d + d0};
    int rc = 0;
    for (int i = 0; i < in->steps && rc == 0; i++) {
        const int cur = i & 1;
        rc = in->time_embed(in->user, in->timesteps[i], e[cur], e0[cur], err);
        if (rc == 0)
            rel[i] =
                i == 0 ? 0.0 : rel_l1(use_e0 ? e0[cur] : e[cur], use_e0 ? e0[!cur] : e[!cur], n);
    }
    free(buf);
    if (rc < 0)
        df_err_prefix(err, "step cache time embedding");
    return rc;
}

static int teacache_forced(enum cache_mode mode, int i, int steps)
{
    return mode == CACHE_MODE_E0 ? i < 5 : (i == 0 || i == steps - 1);
}

static void plan_steps(const struct stepcache_plan_in *in, const double *rel, uint8_t *flags)
{
    const struct shot_cache *p = in->policy;
    const struct stepcache_calib *c = in->calib;
    const int prompttea = p->policy == CACHE_POLICY_PROMPTTEA;
    const int use_cfg = prompttea && in->guided && p->cfg_threshold > 0;
    uint8_t *cfg_skip = NULL;
    if (use_cfg) {
        cfg_skip = flags + in->steps; /* scratch: caller allocated 2·steps */
        stepcache_cfg_skips(c->cfg_table, in->steps, p->cfg_threshold, cfg_skip);
    }
    double acc = 0.0;
    for (int i = 0; i < in->steps; i++) {
        int compute;
        const int forced = prompttea ? i == 0 : teacache_forced(p->mode, i, in->steps);
        if (forced) {
            compute = 1;
            acc = 0.0;
        } else {
            acc += prompttea ? stepcache_fit_eval(c->fit_b, c->fit_w, rel[i], i)
                             : stepcache_poly_eval(c->poly[p->mode], rel[i]);
            compute = !(acc < in->tau);
            if (compute)
                acc = 0.0;
        }
        uint8_t f = compute ? STEPCACHE_F_COND : 0;
        if (in->guided && compute)
            f |= use_cfg && cfg_skip[i] ? STEPCACHE_F_CFG_REUSE : STEPCACHE_F_UNCOND;
        flags[i] = f;
    }
}

int stepcache_plan(const struct stepcache_plan_in *in, struct stepcache_mask *out,
                   struct df_err *err)
{
    memset(out, 0, sizeof *out);
    const struct shot_cache *p = in->policy;
    DF_FAIL_IF(in->steps < 1 || in->steps > STEPCACHE_MAX_STEPS, err, DF_E_INVAL,
               "step cache: %d steps (1..%d)", in->steps, STEPCACHE_MAX_STEPS);
    DF_FAIL_IF((unsigned)p->policy >= CACHE_POLICY_COUNT || (unsigned)p->mode >= CACHE_MODE_COUNT,
               err, DF_E_INVAL, "step cache: bad policy or mode");
    if (p->policy != CACHE_POLICY_OFF) {
        DF_TRY(
            stepcache_calib_check(in->calib, p, in->sampler ? in->sampler : "?", in->steps, err));
        DF_FAIL_IF(!in->time_embed || !in->timesteps || in->dim <= 0, err, DF_E_INVAL,
                   "step cache: no time embedding to plan with");
    }
    out->flags = calloc((size_t)in->steps * 2, 1);
    double *rel = calloc((size_t)in->steps, sizeof *rel);
    if (!out->flags || !rel) {
        free(rel);
        stepcache_mask_free(out);
        return df_err_set(err, DF_E_NOMEM, "out of memory planning the step cache");
    }
    out->steps = in->steps;
    out->policy = p->policy;
    out->mode = p->policy == CACHE_POLICY_PROMPTTEA ? CACHE_MODE_E0 : p->mode;
    out->guided = in->guided ? 1 : 0;
    out->tau = p->policy == CACHE_POLICY_OFF ? 0.0 : in->tau;
    out->cfg_threshold = p->policy == CACHE_POLICY_PROMPTTEA && in->guided ? p->cfg_threshold : 0;
    snprintf(out->tau_source, sizeof out->tau_source, "%s",
             p->policy == CACHE_POLICY_OFF ? "cache off"
                                           : (in->tau_source ? in->tau_source : "given"));
    int rc = 0;
    if (p->policy == CACHE_POLICY_OFF) {
        for (int i = 0; i < in->steps; i++)
            out->flags[i] = STEPCACHE_F_COND | (out->guided ? STEPCACHE_F_UNCOND : 0);
    } else {
        rc = schedule_rel(in, out->mode == CACHE_MODE_E0, rel, err);
        if (rc == 0)
            plan_steps(in, rel, out->flags);
    }
    free(rel);
    if (rc < 0)
        stepcache_mask_free(out);
    return rc;
}

void stepcache_mask_free(struct stepcache_mask *m)
{
    if (!m)
        return;
    free(m->flags);
    memset(m, 0, sizeof *m);
}

int stepcache_mask_copy(const struct stepcache_mask *src, struct stepcache_mask *dst,
                        struct df_err *err)
{
    *dst = *src;
    dst->flags = malloc((size_t)(src->steps > 0 ? src->steps : 1));
    DF_FAIL_IF(!dst->flags, err, DF_E_NOMEM, "out of memory copying the step-cache mask");
    memcpy(dst->flags, src->flags, (size_t)src->steps);
    return 0;
}

enum stepcache_action stepcache_mask_action(const struct stepcache_mask *m, int step,
                                            enum stepcache_branch b)
{
    if (!m || step < 0 || step >= m->steps || m->policy == CACHE_POLICY_OFF)
        return STEPCACHE_ACTION_COMPUTE;
    const uint8_t f = m->flags[step];
    if (b == STEPCACHE_BRANCH_COND)
        return f & STEPCACHE_F_COND ? STEPCACHE_ACTION_COMPUTE : STEPCACHE_ACTION_SKIP;
    if (f & STEPCACHE_F_CFG_REUSE)
        return STEPCACHE_ACTION_REUSE_COND;
    return f & STEPCACHE_F_UNCOND ? STEPCACHE_ACTION_COMPUTE : STEPCACHE_ACTION_SKIP;
}

int stepcache_residual_needed(const struct stepcache_mask *m, int next, enum stepcache_branch b)
{
    if (!m || next < 0 || next >= m->steps || m->policy == CACHE_POLICY_OFF)
        return 0;
    if (b == STEPCACHE_BRANCH_UNCOND && !m->guided)
        return 0;
    return stepcache_mask_action(m, next, b) == STEPCACHE_ACTION_SKIP;
}

/* ---- bytes ----------------------------------------------------------------- */

size_t stepcache_mask_size(const struct stepcache_mask *m)
{
    return MASK_HEADER + (size_t)m->steps;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_f64(uint8_t *p, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static double get_f64(const uint8_t *p)
{
    uint64_t v = (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
    double d;
    memcpy(&d, &v, 8);
    return d;
}

int stepcache_mask_save(const struct stepcache_mask *m, void *dst, size_t cap, size_t *written,
                        struct df_err *err)
{
    const size_t need = stepcache_mask_size(m);
    DF_FAIL_IF(cap < need, err, DF_E_RANGE, "step-cache mask needs %zu bytes, buffer has %zu", need,
               cap);
    uint8_t *p = dst;
    memset(p, 0, MASK_HEADER);
    memcpy(p, MASK_MAGIC, 4);
    put_u32(p + 4, MASK_VERSION);
    put_u32(p + 8, (uint32_t)m->steps);
    p[12] = (uint8_t)m->policy;
    p[13] = (uint8_t)m->mode;
    p[14] = (uint8_t)(m->guided ? 1 : 0);
    put_f64(p + 16, m->tau);
    put_f64(p + 24, m->cfg_threshold);
    memcpy(p + 32, m->tau_source, strnlen(m->tau_source, sizeof m->tau_source - 1));
    memcpy(p + MASK_HEADER, m->flags, (size_t)m->steps);
    if (written)
        *written = need;
    return 0;
}

int stepcache_mask_load(const void *src, size_t len, struct stepcache_mask *out, struct df_err *err)
{
    memset(out, 0, sizeof *out);
    const uint8_t *p = src;
    DF_FAIL_IF(len < MASK_HEADER || memcmp(p, MASK_MAGIC, 4) != 0, err, DF_E_CORRUPT,
               "step-cache mask: bad magic or %zu bytes is too short", len);
    DF_FAIL_IF(get_u32(p + 4) != MASK_VERSION, err, DF_E_CORRUPT,
               "step-cache mask: unsupported version %u", get_u32(p + 4));
    const uint32_t steps = get_u32(p + 8);
    DF_FAIL_IF(steps < 1 || steps > STEPCACHE_MAX_STEPS || len != MASK_HEADER + steps, err,
               DF_E_CORRUPT, "step-cache mask: %u steps in %zu bytes", steps, len);
    DF_FAIL_IF(p[12] >= CACHE_POLICY_COUNT || p[13] >= CACHE_MODE_COUNT || p[14] > 1 || p[15], err,
               DF_E_CORRUPT, "step-cache mask: bad policy/mode/guided byte");
    for (uint32_t i = 0; i < steps; i++) {
        const uint8_t f = p[MASK_HEADER + i];
        DF_FAIL_IF(f & ~7u || ((f & STEPCACHE_F_CFG_REUSE) && (f & STEPCACHE_F_UNCOND)), err,
                   DF_E_CORRUPT, "step-cache mask: bad flags 0x%02x at step %u", f, i);
    }
    out->flags = malloc(steps);
    DF_FAIL_IF(!out->flags, err, DF_E_NOMEM, "out of memory");
    out->steps = (int)steps;
    out->policy = (enum cache_policy)p[12];
    out->mode = (enum cache_mode)p[13];
    out->guided = p[14];
    out->tau = get_f64(p + 16);
    out->cfg_threshold = get_f64(p + 24);
    memcpy(out->tau_source, p + 32, sizeof out->tau_source - 1);
    memcpy(out->flags, p + MASK_HEADER, steps);
    return 0;
}

/* ---- reporting --------------------------------------------------------------- */

void stepcache_mask_passes(const struct stepcache_mask *m, int64_t *computed, int64_t *total)
{
    const int branches = m->guided ? 2 : 1;
    int64_t c = 0;
    for (int i = 0; i < m->steps; i++)
        for (int b = 0; b < branches; b++)
            c += stepcache_mask_action(m, i, (enum stepcache_branch)b) == STEPCACHE_ACTION_COMPUTE;
    *computed = c;
    *total = (int64_t)m->steps * branches;
}

double stepcache_mask_speedup(const struct stepcache_mask *m, double block_share)
{
    int64_t c, t;
    stepcache_mask_passes(m, &c, &t);
    const double cost = (double)c + (double)(t - c) * (1.0 - block_share);
    return cost > 0 ? (double)t / cost : 1.0;
}

const char *stepcache_mask_describe(const struct stepcache_mask *m, int step, char *buf, size_t cap)
{
    const enum stepcache_action a = stepcache_mask_action(m, step, STEPCACHE_BRANCH_COND);
    int n = snprintf(buf, cap, "cond %s", stepcache_action_name(a));
    if (m->guided && n >= 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, ", uncond %s",
                 stepcache_action_name(stepcache_mask_action(m, step, STEPCACHE_BRANCH_UNCOND)));
    return buf;
}

static void branch_string(const struct stepcache_mask *m, enum stepcache_branch b, char *s)
{
    static const char k_sym[STEPCACHE_ACTION_COUNT] = {'C', '.', 'R'};
    for (int i = 0; i < m->steps; i++)
        s[i] = k_sym[stepcache_mask_action(m, i, b)];
    s[m->steps] = '\0';
}

struct cJSON *stepcache_mask_json(const struct stepcache_mask *m)
{
    cJSON *o = cJSON_CreateObject();
    char *s = malloc((size_t)m->steps + 1);
    if (!o || !s) {
        cJSON_Delete(o);
        free(s);
        return NULL;
    }
    int64_t c, t;
    stepcache_mask_passes(m, &c, &t);
    cJSON_AddStringToObject(o, "policy", cache_policy_name(m->policy));
    cJSON_AddStringToObject(o, "mode", cache_mode_name(m->mode));
    cJSON_AddNumberToObject(o, "tau", m->tau);
    cJSON_AddStringToObject(o, "tau_source", m->tau_source);
    cJSON_AddNumberToObject(o, "cfg_threshold", m->cfg_threshold);
    cJSON_AddNumberToObject(o, "steps", m->steps);
    cJSON_AddNumberToObject(o, "passes_computed", (double)c);
    cJSON_AddNumberToObject(o, "passes_total", (double)t);
    branch_string(m, STEPCACHE_BRANCH_COND, s);
    cJSON_AddStringToObject(o, "cond", s);
    if (m->guided) {
        branch_string(m, STEPCACHE_BRANCH_UNCOND, s);
        cJSON_AddStringToObject(o, "uncond", s);
    }
    free(s);
    return o;
}
