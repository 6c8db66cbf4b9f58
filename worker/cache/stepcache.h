/*
 * stepcache.h -- step caching for the Wan DiT: TeaCache and PromptTea
 * (docs/stepcache.md), planned up front, applied per rank on its token shard.
 *
 * For Wan the skip decisions depend only on the timestep schedule, the
 * threshold tau and the calibration tables (the compared tensor is the
 * timestep embedding e or e0, never the latent or the prompt).  So the whole
 * skip mask (steps x {cond computes, uncond computes, uncond reuses cond}) is
 * planned ONCE at the start of a shot, on one rank, from N tiny time-MLP
 * evaluations; the mask bytes are broadcast and every rank applies the same
 * mask.  No float on any rank can split a decision, a resumed run reads the
 * mask from the checkpoint, and `ditfarm plan` can predict the speed-up.
 *
 * Pieces (one file each):
 *   stepcache_calib.c   calibration files: TeaCache polynomials, the PromptTea
 *                       step model (12 features) and CFG table, per
 *                       (model[, sampler, steps]); lookup and refusal rules
 *   stepcache_prompt.c  PromptTea tau from prompt complexity (reference vectors)
 *   stepcache_mask.c    planning the mask, its bytes, its log/sidecar text
 *   stepcache_apply.c   the per-branch forward: blocks or cached residual
 *   stepcache_fit.c     least squares for `ditfarm-worker calibrate`
 *
 *     // shot start (rank 0 plans; others receive the bytes)
 *     struct stepcache_calib cal;  struct stepcache_mask mask;
 *     DF_TRY(stepcache_calib_resolve(configs, model, &shot->cache, "unipc", steps, &cal, err));
 *     DF_TRY(stepcache_tau(&shot->cache, &cal, text, n_tok, text_dim, &tau, src, sizeof src, err));
 *     struct stepcache_plan_in in = {.policy = &shot->cache, .calib = &cal, .steps = steps,
 *         .timesteps = ts, .tau = tau, .tau_source = src, .guided = 1,
 *         .time_embed = stepcache_family_time_embed, .user = model, .dim = dim};
 *     DF_TRY(stepcache_plan(&in, &mask, err));
 *     // broadcast stepcache_mask_save() bytes; others stepcache_mask_load()
 *     stepcache_t *sc;  DF_TRY(stepcache_create(&mask, be, local_rows, dim, &sc, err));
 *     // each step, each branch, on this rank's tokens:
 *     DF_TRY(stepcache_forward(sc, model, &shape, latent, t, text, i, STEPCACHE_COND, out, err));
 *
 * Precision: accumulators, polynomial values, predictions and tau are double.
 * Residuals are fp32 [rows, dim] in backend memory and are added out of place
 * of the block stack (x_out = x_in + R, fp32), like the reference's USP path.
 */
#ifndef DF_STEPCACHE_H
#define DF_STEPCACHE_H

#include "err.h"
#include "kern.h"
#include "manifest.h"
#include "family.h"

#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* ==== calibration data (stepcache_calib.c) ================================ */

#define STEPCACHE_POLY_TERMS 5 /* c0·x⁴ + c1·x³ + c2·x² + c3·x + c4 (numpy poly1d) */
#define STEPCACHE_FIT_TERMS 12 /* [1, x, t, x², t², xt, x³, t³, x²t, xt², x⁴, t⁴] */
#define STEPCACHE_MAX_STEPS 10000
#define STEPCACHE_CALIB_FORMAT "ditfarm-stepcache/1"

/* One calibration file (format: docs in stepcache_calib.c).  Model-level
 * files hold the TeaCache polynomials; a per-setup file (steps > 0) also
 * holds the PromptTea step model and CFG table, valid ONLY for its sampler
 * and step count. */
struct stepcache_calib {
    char path[4096];                /* the file it was read from ("" if built) */
    char model[64];                 /* model name */
    char source[512];               /* where the numbers come from */
    int has_poly[CACHE_MODE_COUNT]; /* TeaCache polynomial present, per mode */
    double poly[CACHE_MODE_COUNT][STEPCACHE_POLY_TERMS];
    /* per-setup part: steps == 0 when absent */
    char sampler[16];                  /* "euler" / "unipc" */
    int steps;                         /* N the tables were fitted for */
    double shift;                      /* flow shift of the calibration */
    int has_fit;                       /* PromptTea step model present */
    double fit_b;                      /* intercept */
    double fit_w[STEPCACHE_FIT_TERMS]; /* weights, feature order above */
    double *cfg_table;                 /* [steps] q_i, or NULL (owned) */
    /* PromptTea prompt-complexity defaults and references ("" = none) */
    double thresh_lo, thresh_hi, k;           /* 0 when the file gives none */
    char ref_simple[4096], ref_complex[4096]; /* bf16 [n, ref_dim] files, absolute */
    int ref_dim;
};

/* Read a calibration JSON.  Relative reference paths resolve against the
 * file's directory.  Returns 0, DF_E_IO/DF_E_NOTFOUND (file), DF_E_PARSE
 * (JSON, or a field of the wrong type or length: the message names it). */
int stepcache_calib_load(const char *path, struct stepcache_calib *out, struct df_err *err);

/* The same from text[0..len) (need not be NUL-terminated); `path` names it
 * in messages and anchors relative reference paths. */
int stepcache_calib_parse(const char *text, size_t len, const char *path,
                          struct stepcache_calib *out, struct df_err *err);

/* Write a calibration JSON (atomically); `provenance` (may be NULL) is an
 * object added under "provenance" (not consumed).  Returns 0 or DF_E_IO. */
int stepcache_calib_save(const char *path, const struct stepcache_calib *c,
                         const struct cJSON *provenance, struct df_err *err);

/* Free the table; the struct may be reused.  Accepts a zeroed struct. */
void stepcache_calib_clear(struct stepcache_calib *c);

/* Find and load the calibration a shot needs, and refuse what it cannot do:
 *  1. <configs>/models/<model>/stepcache-<sampler>-<steps>.json (per setup),
 *  2. else <configs>/models/<model>.stepcache.json (model level).
 * Policy off: returns 0 with an empty struct.  teacache: needs the
 * polynomial of the policy's mode.  prompttea: needs a step model and a CFG
 * table (when cfg_threshold > 0) fitted for exactly this sampler and step
 * count, else DF_E_UNSUPPORTED "prompttea: <file> is calibrated for unipc
 * with 50 steps, the shot asks for unipc with 60 steps; run `ditfarm-worker
 * calibrate` for this setup or use cache policy teacache" -- never a table
 * read past its end.  Returns 0, DF_E_NOTFOUND (no file: lists the paths
 * tried), DF_E_UNSUPPORTED, or stepcache_calib_load's codes. */
int stepcache_calib_resolve(const char *configs_dir, const char *model,
                            const struct shot_cache *policy, const char *sampler, int steps,
                            struct stepcache_calib *out, struct df_err *err);

/* The checks of stepcache_calib_resolve on an already loaded calibration.
 * Returns 0 or DF_E_UNSUPPORTED (message as above). */
int stepcache_calib_check(const struct stepcache_calib *c, const struct shot_cache *policy,
                          const char *sampler, int steps, struct df_err *err);

/* P(x) with numpy poly1d coefficients c[0..4]. */
double stepcache_poly_eval(const double c[STEPCACHE_POLY_TERMS], double x);
/* The 12 PromptTea features of (x, step) into phi. */
void stepcache_fit_features(double x, double step, double phi[STEPCACHE_FIT_TERMS]);
/* b + sum w_k phi_k(x, step); may be negative (not clamped, as the reference). */
double stepcache_fit_eval(double b, const double w[STEPCACHE_FIT_TERMS], double x, int step);

/* ==== PromptTea tau from prompt complexity (stepcache_prompt.c) =========== */

/* Reference embeddings: mean T5 outputs of simple and complex prompts. */
struct stepcache_refs {
    int dim;
    int n_simple, n_complex;
    float *simple;  /* [n_simple, dim] (owned) */
    float *complex; /* [n_complex, dim] (owned) */
};

/* Load raw little-endian bf16 files [n, dim] (n from the file size).
 * Returns 0, DF_E_IO/DF_E_NOTFOUND, DF_E_PARSE (size not a multiple of
 * 2·dim), DF_E_NOMEM. */
int stepcache_refs_load(const char *simple_path, const char *complex_path, int dim,
                        struct stepcache_refs *out, struct df_err *err);
void stepcache_refs_free(struct stepcache_refs *r);

/* r = c/(s + c + 1e-6) with s, c the mean cosine similarities of the token
 * mean of emb [n_tokens, dim] to the simple and complex references; w =
 * sigmoid(k(r - 0.5)); tau = w·lo + (1 - w)·hi.  In double (the reference's
 * bf16 arithmetic differs by up to ~0.007 near r = 0.5).  *r_out may be NULL.
 * Returns 0 or DF_E_INVAL (dim mismatch, no tokens, zero mean vector). */
int stepcache_prompt_tau(const struct stepcache_refs *refs, const float *emb, int n_tokens, int dim,
                         double lo, double hi, double k, double *tau, double *r_out,
                         struct df_err *err);

/* The shot's tau and where it came from (for logs and the sidecar):
 * teacache: the manifest threshold; prompttea: prompt complexity when the
 * calibration names references of dimension text_dim and text is given,
 * else the manifest threshold with the reason.  text [n_tokens, text_dim]
 * are the positive prompt's real tokens.  Returns 0 or the loader's codes. */
int stepcache_tau(const struct shot_cache *policy, const struct stepcache_calib *cal,
                  const float *text, int n_tokens, int text_dim, double *tau, char *source,
                  size_t source_cap, struct df_err *err);

/* ==== the skip mask (stepcache_mask.c) ==================================== */

enum stepcache_branch {
    STEPCACHE_BRANCH_COND,   /* "cond": the prompt */
    STEPCACHE_BRANCH_UNCOND, /* "uncond": the negative prompt */
    STEPCACHE_BRANCH_COUNT
};
const char *stepcache_branch_name(enum stepcache_branch b);

/* What one pass does. */
enum stepcache_action {
    STEPCACHE_ACTION_COMPUTE,    /* "computed": run the blocks, store R_b */
    STEPCACHE_ACTION_SKIP,       /* "skipped": x_out = x_in + R_b */
    STEPCACHE_ACTION_REUSE_COND, /* "reused cond": uncond only: x_in + R_cond, R_uncond := R_cond */
    STEPCACHE_ACTION_COUNT
};
const char *stepcache_action_name(enum stepcache_action a);

/* Bits of stepcache_mask.flags[i]. */
#define STEPCACHE_F_COND 0x1u      /* the cond pass computes */
#define STEPCACHE_F_UNCOND 0x2u    /* the uncond pass computes */
#define STEPCACHE_F_CFG_REUSE 0x4u /* the uncond pass reuses cond (F_UNCOND clear) */

struct stepcache_mask {
    int steps;
    enum cache_policy policy;
    enum cache_mode mode;
    int guided;           /* 1: two branches per step */
    double tau;           /* the threshold the mask was planned with */
    double cfg_threshold; /* 0: no CFG cache */
    char tau_source[160]; /* "manifest threshold", "prompt complexity r=0.531", ... */
    uint8_t *flags;       /* [steps] STEPCACHE_F_* (owned) */
};

/* The time embedding of timestep t: e [dim] and e0 [e0_dim] (see
 * stepcache_plan_in).  Returns 0 or DF_E_*. */
typedef int (*stepcache_time_embed_fn)(void *user, float t, float *e, float *e0,
                                       struct df_err *err);

/* stepcache_time_embed_fn for any model family (user = family_model_t *,
 * reserved): family_time_embed. */
int stepcache_family_time_embed(void *user, float t, float *e, float *e0, struct df_err *err);

struct stepcache_plan_in {
    const struct shot_cache *policy;     /* policy, mode, cfg_threshold */
    const struct stepcache_calib *calib; /* checked with stepcache_calib_check */
    const char *sampler;                 /* for the check */
    int steps;
    const float *timesteps; /* [steps], the sampler's t per step */
    int guided;             /* classifier-free guidance on */
    double tau;             /* from stepcache_tau */
    const char *tau_source;
    stepcache_time_embed_fn time_embed; /* not called for policy off */
    void *user;
    int dim;    /* width of e (Wan: model dim) */
    int e0_dim; /* width of e0; 0: 6·dim (Wan) */
};

/* Plan the mask (rules: docs/stepcache.md, "Decisions are planned, not measured").  Policy off:
 * every pass computes.  Returns 0 and *out (free with stepcache_mask_free),
 * DF_E_INVAL (bad input), DF_E_UNSUPPORTED (calibration does not fit),
 * DF_E_NOMEM, or the time_embed callback's error. */
int stepcache_plan(const struct stepcache_plan_in *in, struct stepcache_mask *out,
                   struct df_err *err);

void stepcache_mask_free(struct stepcache_mask *m);
/* Deep copy.  Returns 0 or DF_E_NOMEM. */
int stepcache_mask_copy(const struct stepcache_mask *src, struct stepcache_mask *dst,
                        struct df_err *err);

/* The action of pass (step, branch); COMPUTE out of range or when off. */
enum stepcache_action stepcache_mask_action(const struct stepcache_mask *m, int step,
                                            enum stepcache_branch b);

/* Raw DynCFGCache decisions of a CFG table alone (section 2.3): skip[i] = 1
 * where the uncond pass of step i may reuse cond.  Cannot fail. */
void stepcache_cfg_skips(const double *q, int steps, double threshold, uint8_t *skip);

/* Bytes of a serialized mask (checkpoint section, broadcast). */
size_t stepcache_mask_size(const struct stepcache_mask *m);
/* Serialize (little-endian, versioned).  Returns 0 or DF_E_RANGE (dst short). */
int stepcache_mask_save(const struct stepcache_mask *m, void *dst, size_t cap, size_t *written,
                        struct df_err *err);
/* Parse bytes from stepcache_mask_save.  Returns 0 or DF_E_CORRUPT (the
 * message says what is wrong), DF_E_NOMEM. */
int stepcache_mask_load(const void *src, size_t len, struct stepcache_mask *out,
                        struct df_err *err);

/* Passes that run the block stack, and all passes (steps · branches). */
void stepcache_mask_passes(const struct stepcache_mask *m, int64_t *computed, int64_t *total);

/* Predicted denoise speed-up if the block stack is `block_share` (0..1) of a
 * pass's time: total / (computed + (total - computed)·(1 - block_share)). */
double stepcache_mask_speedup(const struct stepcache_mask *m, double block_share);

/* One-line summary of step i for the worker log ("cond computed, uncond
 * skipped").  Returns buf. */
const char *stepcache_mask_describe(const struct stepcache_mask *m, int step, char *buf,
                                    size_t cap);

/* The sidecar object: {policy, mode, tau, tau_source, cfg_threshold, steps,
 * cond: "CC.C..", uncond: "CC.R.."} (C computed, . skipped, R reused cond).
 * Returns a new object (caller deletes) or NULL when out of memory. */
struct cJSON *stepcache_mask_json(const struct stepcache_mask *m);

/* 1 when a checkpoint before step `next` must hold branch b's residual (its
 * first pass from `next` on is a skip); 0 when that pass recomputes it. */
int stepcache_residual_needed(const struct stepcache_mask *m, int next, enum stepcache_branch b);

/* ==== one call at shot start (stepcache_shot.c) =========================== */

struct sampler;

struct stepcache_shot_in {
    const char *configs_dir;         /* paths_configs_dir() */
    const char *model;               /* the manifest's model name (configs/models/<model>...) */
    const struct shot_cache *policy; /* the shot's cache section */
    const struct sampler *smp;       /* the shot's sampler: kind, steps, timesteps */
    int guided;                      /* shot_guided(shot) */
    const float *text;               /* positive prompt embeddings [n_tokens, text_dim] */
    int n_tokens;                    /* real tokens (not padding) */
    int text_dim;
    family_model_t *model_handle;   /* reserved model: its time embedding plans the mask */
    char *warning;                  /* out, may be NULL: "" or why the plan may be off */
    size_t warning_cap;
};

/* stepcache_calib_resolve + stepcache_tau + stepcache_plan for a shot, on
 * the rank that plans (then broadcast stepcache_mask_save()'s bytes).
 * Policy off: an all-compute mask, no file read.  A prompttea table
 * calibrated at another flow shift is used with a warning (the step model
 * and CFG table are per step index; the shift moves the schedule under
 * them).  Returns 0 and *out
 * (stepcache_mask_free), or the codes of those functions -- a prompttea shot
 * whose setup has no calibration fails with the message of
 * stepcache_calib_check, never with a silent default. */
int stepcache_plan_shot(const struct stepcache_shot_in *in, struct stepcache_mask *out,
                        struct df_err *err);

/* ==== applying the mask on one rank (stepcache_apply.c) =================== */

typedef struct stepcache stepcache_t;

/* A cache for `rows` local tokens of width dim, with backend residual
 * buffers (2 · rows · dim floats when guided and not off).  The mask is
 * copied.  Returns 0 and *out (stepcache_free), DF_E_NOMEM, DF_E_INVAL. */
int stepcache_create(const struct stepcache_mask *mask, kern_backend_t be, int64_t rows, int dim,
                     stepcache_t **out, struct df_err *err);
void stepcache_free(stepcache_t *sc);

/* The mask in use. */
const struct stepcache_mask *stepcache_get_mask(const stepcache_t *sc);
/* The local rows and width the cache was created for. */
void stepcache_get_extent(const stepcache_t *sc, int64_t *rows, int *dim);

/* One branch's forward on this rank's token range, as family_forward but
 * with the block stack replaced by the mask's action for (step, branch):
 * embed -> blocks (and R_b = out - in) | x += R_b | x += R_cond -> head.
 * Passes of one step must come cond before uncond (a "reused cond" pass
 * needs this step's cond residual on this rank).  Returns 0, the model's
 * codes, DF_E_INVAL (rows differ from the cache's, a step outside the mask,
 * a reuse before this step's cond pass), or
 * DF_E_INTERNAL (a skip with no residual: a resume without the residuals). */
int stepcache_forward(stepcache_t *sc, family_model_t *m, const struct family_shape *shape,
                      const float *latent, float t, const float *text, int step,
                      enum stepcache_branch b, float *out, struct df_err *err);

/* Passes so far, per branch and action. */
struct stepcache_counts {
    int64_t n[STEPCACHE_BRANCH_COUNT][STEPCACHE_ACTION_COUNT];
};
void stepcache_get_counts(const stepcache_t *sc, struct stepcache_counts *out);

/* Residual of branch b for checkpoints: 1 when it holds a value. */
int stepcache_residual_valid(const stepcache_t *sc, enum stepcache_branch b);
/* Copy R_b (rows · dim floats, this rank's tokens, token-major) to host /
 * set it from host (marks it valid).  Global extents for a checkpoint are
 * [total tokens, dim].  Return 0, DF_E_INVAL (no such residual), or a
 * backend error. */
int stepcache_residual_get(const stepcache_t *sc, enum stepcache_branch b, float *host,
                           struct df_err *err);
int stepcache_residual_set(stepcache_t *sc, enum stepcache_branch b, const float *host,
                           struct df_err *err);

/* ==== checkpoints (stepcache_ckpt.c) ====================================== */

/* Section names: the mask (bytes of stepcache_mask_save) and the residuals,
 * f32 tensors of GLOBAL extents [tokens, dim] (token-major, all ranks'
 * shards gathered), so a run may resume on another rank count.  A resumed
 * run applies the STORED mask (same decisions even if the calibration file
 * changed), and only the residuals the next step reads are stored
 * (stepcache_residual_needed): a checkpoint before a step that computes
 * both branches holds no residual at all. */
#define STEPCACHE_CKPT_MASK "stepcache.mask"
#define STEPCACHE_CKPT_RESIDUAL_COND "stepcache.residual.cond"
#define STEPCACHE_CKPT_RESIDUAL_UNCOND "stepcache.residual.uncond"

struct ckpt_writer;
struct ckpt_reader;

/* Put the mask.  Returns 0 or the writer's codes. */
int stepcache_ckpt_put_mask(struct ckpt_writer *w, const struct stepcache_mask *m,
                            struct df_err *err);
/* Get the mask into *out (stepcache_mask_free).  Returns 0, DF_E_NOTFOUND
 * (checkpoint of an uncached run), DF_E_CORRUPT, or the reader's codes. */
int stepcache_ckpt_get_mask(const struct ckpt_reader *r, struct stepcache_mask *out,
                            struct df_err *err);
/* Put/get branch b's residual, global [tokens, dim].  Return 0 or the
 * writer's/reader's codes (get: DF_E_NOTFOUND when not stored). */
int stepcache_ckpt_put_residual(struct ckpt_writer *w, enum stepcache_branch b, const float *global,
                                int64_t tokens, int dim, struct df_err *err);
int stepcache_ckpt_get_residual(const struct ckpt_reader *r, enum stepcache_branch b, float *global,
                                int64_t tokens, int dim, struct df_err *err);

/* (The render gathers each branch's residual from the ranks that hold it
 * and puts it with these: worker/render/render_ckpt.c.) */

/* ==== fitting, for calibration (stepcache_fit.c) ========================== */

/* Least squares min |A w - y|² + ridge·|D w|² in double, A [m, n] row-major,
 * with each column scaled to unit norm first (D the scaling), solved by the
 * normal equations and Cholesky.  A small ridge (1e-10) keeps a rank-deficient
 * design (the 12 PromptTea features on one schedule) solvable.  Writes w[n].
 * Returns 0, DF_E_INVAL (m < 1, n < 1), DF_E_RANGE (not positive definite),
 * DF_E_NOMEM. */
int stepcache_lsq(const double *A, const double *y, int m, int n, double ridge, double *w,
                  struct df_err *err);

/* numpy.polyfit(x, y, 4): c[0..4] highest power first.  Returns as above. */
int stepcache_fit_poly(const double *x, const double *y, int m, double c[STEPCACHE_POLY_TERMS],
                       struct df_err *err);

/* sklearn LinearRegression on the 12 features of (x_i, step_i): *b and w[12]
 * (w[0], the constant feature, is 0; the intercept is b).  Returns as above. */
int stepcache_fit_steps(const double *x, const int *step, const double *y, int m, double *b,
                        double w[STEPCACHE_FIT_TERMS], struct df_err *err);

#endif /* DF_STEPCACHE_H */
