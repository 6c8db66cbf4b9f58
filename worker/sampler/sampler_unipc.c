/*
 * sampler_unipc.c -- UniPC multistep (predictor UniP + corrector UniC, B(h)
 * variants) on flow sigmas, as diffusers' UniPCMultistepScheduler with
 * prediction_type="flow_prediction", use_flow_sigmas=True, predict_x0=True.
 * ref: diffusers/schedulers/scheduling_unipc_multistep.py (set_timesteps,
 *      convert_model_output, multistep_uni_p_bh_update,
 *      multistep_uni_c_bh_update, step), diffusers 0.42.1
 *
 * Flow sigmas: alpha = 1 - sigma, lambda = log(alpha) - log(sigma).  Step i:
 *   x0_i   = x_i - sigma_i * v_i                          (convert_model_output)
 *   x_i'   = UniC(x_{i-1}', x0 history, x0_i)   if i > 0  (corrector)
 *   x_{i+1} = UniP(x_i', x0 history incl. x0_i)           (predictor)
 * Both are linear in the latent and the x0 history with scalar coefficients
 * that depend only on the schedule, so we compute the coefficients once per
 * step in double and apply them elementwise -- the same arithmetic on every
 * shard, hence shard-independent results.  diffusers computes the scalars in
 * float32; the difference is far below the 1e-4 trajectory tolerance.
 *
 * History layout in struct sampler: out[0..n_out) are the x0 predictions
 * (diffusers' model_outputs), oldest first; out[n_out] is free for the new one;
 * last_sample is the corrected sample the last predictor started from.
 */
#include <math.h>
#include <string.h>

#include "sampler_int.h"

static void unipc_schedule(struct sampler *s)
{
    const int nt = s->cfg.num_train_timesteps;
    const int steps = s->cfg.steps;
    const double fs = s->cfg.shift;
    double sig = 0.0;

    for (int i = 0; i < steps; i++) {
        sig = sampler_linspace(1.0, 1.0 / nt, steps + 1, i);
        sig = fs * sig / (1.0 + (fs - 1.0) * sig);
        /* diffusers nudges a first sigma of 1 so log(alpha) stays finite. */
        if (i == 0 && fabs(sig - 1.0) < 1e-6)
            sig -= 1e-6;
        s->sigmas[i] = (float)sig;
        s->timesteps[i] = (float)(int64_t)(sig * nt); /* torch .to(int64) truncates */
    }
    s->sigmas[steps] = s->cfg.final_sigma == SAMPLER_FINAL_SIGMA_MIN ? (float)sig : 0.0f;
}

static double lambda_of(float sigma)
{
    const double sg = sigma;
    return log(1.0 - sg) - log(sg);
}

/* Solve a x = b for x (dim <= SAMPLER_MAX_ORDER) by Gaussian elimination with
 * partial pivoting, as torch.linalg.solve would. */
static void solve_small(int dim, double a[SAMPLER_MAX_ORDER][SAMPLER_MAX_ORDER],
                        double b[SAMPLER_MAX_ORDER], double x[SAMPLER_MAX_ORDER])
{
    for (int c = 0; c < dim; c++) {
        int piv = c;
        for (int r = c + 1; r < dim; r++)
            if (fabs(a[r][c]) > fabs(a[piv][c]))
                piv = r;
        if (piv != c) {
            for (int k = 0; k < dim; k++) {
                const double t = a[c][k];
                a[c][k] = a[piv][k], a[piv][k] = t;
            }
            const double t = b[c];
            b[c] = b[piv], b[piv] = t;
        }
        for (int r = c + 1; r < dim; r++) {
            const double f = a[r][c] / a[c][c];
            for (int k = c; k < dim; k++)
                a[r][k] -= f * a[c][k];
            b[r] -= f * b[c];
        }
    }
    for (int r = dim - 1; r >= 0; r--) {
        double acc = b[r];
        for (int k = r + 1; k < dim; k++)
            acc -= a[r][k] * x[k];
        x[r] = acc / a[r][r];
    }
}

/* The scalar coefficients of one UniP/UniC update, both written as
 *   x_new = cx * x + cm0 * m0 + sum_k cd[k] * (m_k - m0) [+ ct * (m_t - m0)]
 * where m0 is the newest x0 of the history and m_k the k-th older one. */
struct unipc_coef {
    double cx, cm0;
    double cd[SAMPLER_MAX_ORDER]; /* k = 1 .. order-1 stored at [k-1] */
    double ct;                    /* corrector only: weight of (x0_t - m0) */
};

/* Shared by predictor and corrector: sigma_t is the target, sigma_s0 the
 * newest history sigma, older history sigmas are sig_hist[k-1] for k =
 * 1..order-1.  `corrector` picks rhos_c = solve(R, b) (or 0.5 at order 1)
 * instead of rhos_p = solve(R[:-1,:-1], b[:-1]) (or 0.5 at order 2). */
static void unipc_coefficients(const struct sampler_config *cfg, float sigma_t, float sigma_s0,
                               const float *sig_hist, int order, bool corrector,
                               struct unipc_coef *c)
{
    const double lambda_t = lambda_of(sigma_t), lambda_s0 = lambda_of(sigma_s0);
    const double h = lambda_t - lambda_s0;
    const double alpha_t = 1.0 - (double)sigma_t;

    double rks[SAMPLER_MAX_ORDER];
    for (int k = 1; k < order; k++)
        rks[k - 1] = (lambda_of(sig_hist[k - 1]) - lambda_s0) / h;
    rks[order - 1] = 1.0;

    const double hh = -h; /* predict_x0 */
    const double h_phi_1 = expm1(hh);
    const double b_h = cfg->solver == SAMPLER_SOLVER_BH1 ? hh : expm1(hh);
    double h_phi_k = h_phi_1 / hh - 1.0;
    double factorial = 1.0;
    double rmat[SAMPLER_MAX_ORDER][SAMPLER_MAX_ORDER], bvec[SAMPLER_MAX_ORDER];
    for (int i = 1; i <= order; i++) {
        for (int k = 0; k < order; k++)
            rmat[i - 1][k] = pow(rks[k], i - 1);
        bvec[i - 1] = h_phi_k * factorial / b_h;
        factorial *= i + 1;
        h_phi_k = h_phi_k / hh - 1.0 / factorial;
    }

    double rhos[SAMPLER_MAX_ORDER] = {0};
    if (corrector) {
        if (order == 1)
            rhos[0] = 0.5;
        else
            solve_small(order, rmat, bvec, rhos);
    } else if (order == 2) {
        rhos[0] = 0.5;
    } else if (order > 2) {
        solve_small(order - 1, rmat, bvec, rhos);
    }

    c->cx = (double)sigma_t / (double)sigma_s0;
    c->cm0 = -alpha_t * h_phi_1;
    for (int k = 1; k < order; k++)
        c->cd[k - 1] = -alpha_t * b_h * rhos[k - 1] / rks[k - 1];
    c->ct = corrector ? -alpha_t * b_h * rhos[order - 1] : 0.0;
}

#define UNIPC_BLOCK 512 /* elements per pass; the double accumulator stays in L1 */

/* dst[j0 + j] = sum_t w[t] * src[t][j0 + j] for j < len, accumulated in
 * double.  Called with the constant UNIPC_BLOCK for whole blocks, so the compiler
 * knows the trip count and vectorizes even at -O2. */
static inline __attribute__((always_inline)) void
combine_block(int nt, const float *const *src, const double *w, size_t j0, size_t len, float *dst)
{
    double acc[UNIPC_BLOCK];
    const float *s0 = src[0] + j0;
    for (size_t j = 0; j < len; j++)
        acc[j] = w[0] * s0[j];
    for (int t = 1; t < nt; t++) {
        const float *st = src[t] + j0;
        const double wt = w[t];
        for (size_t j = 0; j < len; j++)
            acc[j] += wt * st[j];
    }
    for (size_t j = 0; j < len; j++)
        dst[j0 + j] = (float)acc[j];
}

/* dst[j] = cx*x[j] + cm0*m0[j] + sum cd*(m_k[j] - m0[j]) [+ ct*(mt[j] - m0[j])]
 * with hist[0..n_hist) oldest first (m0 = hist[n_hist-1]), evaluated as one
 * linear combination of the sources.  dst may alias x. */
static void unipc_apply(const struct unipc_coef *c, int order, float *const *hist, int n_hist,
                        const float *mt, const float *x, float *dst, size_t n)
{
    enum { MAX_TERMS = SAMPLER_MAX_ORDER + 2 };
    const float *src[MAX_TERMS];
    double w[MAX_TERMS];
    int nt = 0;
    double w_m0 = c->cm0;
    src[nt] = x, w[nt++] = c->cx;
    for (int k = 1; k < order; k++) {
        src[nt] = hist[n_hist - 1 - k], w[nt++] = c->cd[k - 1];
        w_m0 -= c->cd[k - 1];
    }
    if (mt) {
        src[nt] = mt, w[nt++] = c->ct;
        w_m0 -= c->ct;
    }
    src[nt] = hist[n_hist - 1], w[nt++] = w_m0;

    size_t j0 = 0;
    for (; j0 + UNIPC_BLOCK <= n; j0 += UNIPC_BLOCK)
        combine_block(nt, src, w, j0, UNIPC_BLOCK, dst);
    if (j0 < n)
        combine_block(nt, src, w, j0, n - j0, dst);
}

static void unipc_corrector(struct sampler *s, int i, const float *x0_t)
{
    const int order = s->this_order;
    float sig_hist[SAMPLER_MAX_ORDER];
    for (int k = 1; k < order; k++)
        sig_hist[k - 1] = s->sigmas[i - (k + 1)];
    struct unipc_coef c;
    unipc_coefficients(&s->cfg, s->sigmas[i], s->sigmas[i - 1], sig_hist, order, true, &c);
    /* diffusers' this_sample (the uncorrected x_i) enters only through x0_t. */
    unipc_apply(&c, order, s->out, s->n_out, x0_t, s->last_sample, s->last_sample, s->n);
}

static void unipc_predictor(struct sampler *s, int i, float *latent)
{
    const int order = s->this_order;
    float sig_hist[SAMPLER_MAX_ORDER];
    for (int k = 1; k < order; k++)
        sig_hist[k - 1] = s->sigmas[i - k];
    struct unipc_coef c;
    unipc_coefficients(&s->cfg, s->sigmas[i + 1], s->sigmas[i], sig_hist, order, false, &c);
    unipc_apply(&c, order, s->out, s->n_out, NULL, s->last_sample, latent, s->n);
}

static void unipc_step(struct sampler *s, int i, const float *velocity, float *latent)
{
    const int solver_order = s->cfg.solver_order;
    const float sigma_i = s->sigmas[i];

    /* convert_model_output: x0 = x - sigma * v, float32 like diffusers. */
    float *x0 = s->out[s->n_out];
    for (size_t j = 0; j < s->n; j++)
        x0[j] = latent[j] - sigma_i * velocity[j];

    const bool use_corrector =
        i > 0 && s->has_last && !(i - 1 < 64 && (s->cfg.disable_corrector >> (i - 1)) & 1u);
    if (use_corrector)
        unipc_corrector(s, i, x0);
    else if (s->n > 0) /* an empty shard has no buffers at all */
        memcpy(s->last_sample, latent, s->n * sizeof *latent);
    s->has_last = true;

    /* Push x0 into the history, dropping the oldest when full. */
    if (s->n_out == solver_order) {
        float *oldest = s->out[0];
        memmove(&s->out[0], &s->out[1], (size_t)solver_order * sizeof s->out[0]);
        s->out[solver_order] = oldest;
    } else {
        s->n_out++;
    }

    int order = solver_order;
    if (s->cfg.lower_order_final && s->cfg.steps - i < order)
        order = s->cfg.steps - i;
    if (order > s->lower_order_nums + 1)
        order = s->lower_order_nums + 1; /* warm-up */
    s->this_order = order;

    unipc_predictor(s, i, latent);
    if (s->lower_order_nums < solver_order)
        s->lower_order_nums++;
}

static int unipc_history_slots(const struct sampler_config *cfg)
{
    return cfg->solver_order + 2; /* orders' x0s + the spare + last_sample */
}

const struct sampler_ops sampler_unipc_ops = {
    .schedule = unipc_schedule,
    .step = unipc_step,
    .history_slots = unipc_history_slots,
    .check = NULL,
    .noise_draws = NULL,
};
