/*
 * cogvideox_pos.c -- CogVideoX's positional tables and timestep sinusoid.
 *
 * ref: diffusers/models/embeddings.py (v0.42) get_3d_sincos_pos_embed,
 *      get_2d_sincos_pos_embed_from_grid, get_1d_sincos_pos_embed_from_grid,
 *      get_3d_rotary_pos_embed, get_1d_rotary_pos_embed, get_timestep_embedding;
 *      diffusers/pipelines/cogvideo/pipeline_cogvideox.py
 *      get_resize_crop_region_for_grid, _prepare_rotary_positional_embeddings.
 */
#include "cogvideox_pos.h"

#include <math.h>
#include <stdlib.h>

/* Python's round() on a double: ties go to the even neighbour, which is
 * rint() under the default rounding mode. */
static int py_round(double x)
{
    return (int)rint(x);
}

void cogvideox_pos_crop_region(int gh, int gw, int base_w, int base_h, int out[4])
{
    const double r = (double)gh / gw;
    int rh, rw;
    if (r > (double)base_h / base_w) {
        rh = base_h;
        rw = py_round((double)base_h / gh * gw);
    } else {
        rw = base_w;
        rh = py_round((double)base_w / gw * gh);
    }
    const int top = py_round((base_h - rh) / 2.0), left = py_round((base_w - rw) / 2.0);
    out[0] = top, out[1] = left, out[2] = top + rh, out[3] = left + rw;
}

void cogvideox_pos_linspace(double start, double end, int steps, float *out)
{
    const float s = (float)start, e = (float)end;
    if (steps == 1) {
        out[0] = s;
        return;
    }
    const float step = (e - s) / (float)(steps - 1);
    const int half = steps / 2;
    for (int i = 0; i < steps; i++)
        out[i] = i < half ? s + step * (float)i : e - step * (float)(steps - i - 1);
}

/* get_1d_rotary_pos_embed(n, pos, use_real): pair k of position pos rotates by
 * pos * 10000^(-2k/n), all float32. */
static void rope_axis(const float *pos, int npos, int n, float *cos_out, float *sin_out)
{
    for (int k = 0; k < n / 2; k++) {
        const float freq = 1.0f / powf(10000.0f, (float)(2 * k) / (float)n);
        for (int i = 0; i < npos; i++) {
            const float a = pos[i] * freq;
            cos_out[(size_t)i * (n / 2) + k] = cosf(a);
            sin_out[(size_t)i * (n / 2) + k] = sinf(a);
        }
    }
}

int cogvideox_pos_rope(const struct cogvideox_config *c, const int grid[3], int64_t v_begin,
                       int64_t count, float *cos_out, float *sin_out, struct df_err *err)
{
    const int D = c->head_dim, n[3] = {D / 4, D / 8 * 3, D / 8 * 3};
    const int tf = grid[0], th = grid[1], tw = grid[2];
    const int len[3] = {tf, th, tw};
    float *pos[3] = {NULL, NULL, NULL}, *tc[3] = {NULL, NULL, NULL}, *ts[3] = {NULL, NULL, NULL};
    int rc = 0;
    for (int a = 0; a < 3 && rc == 0; a++) {
        pos[a] = malloc((size_t)len[a] * sizeof(float));
        tc[a] = malloc((size_t)len[a] * (n[a] / 2) * sizeof(float));
        ts[a] = malloc((size_t)len[a] * (n[a] / 2) * sizeof(float));
        if (!pos[a] || !tc[a] || !ts[a])
            rc = df_err_set(err, DF_E_NOMEM, "out of memory for the RoPE tables");
    }
    if (rc == 0) {
        if (c->patch_t) {
            /* 1.5, grid_type "slice": integer positions of the trained grid. */
            for (int a = 0; a < 3; a++)
                for (int i = 0; i < len[a]; i++)
                    pos[a][i] = (float)i;
        } else {
            /* 1.0, grid_type "linspace" over the crop of the base grid. */
            int crop[4];
            cogvideox_pos_crop_region(th, tw, c->sample_width / c->patch,
                                      c->sample_height / c->patch, crop);
            cogvideox_pos_linspace(0.0, (double)tf * (tf - 1) / tf, tf, pos[0]);
            cogvideox_pos_linspace(crop[0], (double)crop[2] * (th - 1) / th, th, pos[1]);
            cogvideox_pos_linspace(crop[1], (double)crop[3] * (tw - 1) / tw, tw, pos[2]);
        }
        for (int a = 0; a < 3; a++)
            rope_axis(pos[a], len[a], n[a], tc[a], ts[a]);
        const int half = D / 2;
        for (int64_t j = 0; j < count; j++) {
            const int64_t v = v_begin + j;
            const int idx[3] = {(int)(v / ((int64_t)th * tw)), (int)((v / tw) % th),
                                (int)(v % tw)};
            float *co = cos_out + j * half, *si = sin_out + j * half;
            for (int a = 0; a < 3; a++) {
                const int m = n[a] / 2;
                for (int k = 0; k < m; k++) {
                    co[k] = tc[a][(size_t)idx[a] * m + k];
                    si[k] = ts[a][(size_t)idx[a] * m + k];
                }
                co += m, si += m;
            }
        }
    }
    for (int a = 0; a < 3; a++)
        free(pos[a]), free(tc[a]), free(ts[a]);
    return rc;
}

/* get_1d_sincos_pos_embed_from_grid(n, pos) at one position: [sin | cos] of
 * pos * 10000^(-i/(n/2)) in float64, rounded to float32 by the caller's
 * .to(dtype). */
static void sincos_1d(double pos, int n, float *out)
{
    const int h = n / 2;
    for (int i = 0; i < h; i++) {
        const double omega = 1.0 / pow(10000.0, (double)i / (n / 2.0));
        const double a = pos * omega;
        out[i] = (float)sin(a);
        out[h + i] = (float)cos(a);
    }
}

void cogvideox_pos_sincos(const struct cogvideox_config *c, const int grid[3], int64_t v_begin,
                          int64_t count, float *out)
{
    const int D = c->dim, dt = D / 4, ds = 3 * D / 4;
    const int th = grid[1], tw = grid[2];
    /* The grid positions are float32 tensors (arange / scale) before the
     * float64 outer product. */
    const float st = (float)c->temporal_interp, ss = (float)c->spatial_interp;
    for (int64_t j = 0; j < count; j++) {
        const int64_t v = v_begin + j;
        const int f = (int)(v / ((int64_t)th * tw)), y = (int)((v / tw) % th), x = (int)(v % tw);
        float *row = out + j * D;
        sincos_1d((double)((float)f / st), dt, row);
        sincos_1d((double)((float)x / ss), ds / 2, row + dt); /* meshgrid "xy": w first */
        sincos_1d((double)((float)y / ss), ds / 2, row + dt + ds / 2);
    }
}

void cogvideox_pos_timestep(float t, int width, int flip_sin_to_cos, int freq_shift, float *out)
{
    const int half = width / 2;
    const float neg_log_period = (float)-log(10000.0);
    for (int i = 0; i < half; i++) {
        const float e = neg_log_period * (float)i / (float)(half - freq_shift);
        const float arg = t * expf(e);
        out[flip_sin_to_cos ? i : half + i] = cosf(arg);
        out[flip_sin_to_cos ? half + i : i] = sinf(arg);
    }
    if (width % 2)
        out[width - 1] = 0.0f;
}
