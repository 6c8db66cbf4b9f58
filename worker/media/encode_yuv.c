/* encode_yuv.c -- float RGB to deep planar YUV, BT.709 limited range (see encode_yuv.h). */
#include "encode_yuv.h"

#include <libavutil/pixdesc.h>

#include <math.h>
#include <stdint.h>

int encode_yuv_supported(enum AVPixelFormat fmt)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(fmt);
    if (!d || d->nb_components != 3 || !(d->flags & AV_PIX_FMT_FLAG_PLANAR) ||
        (d->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_BE | AV_PIX_FMT_FLAG_FLOAT)))
        return 0;
    return d->comp[0].depth > 8 && d->comp[0].depth <= 16 && d->comp[0].step == 2 &&
           d->log2_chroma_w <= 1 && d->log2_chroma_h <= 1;
}

static float unit(float v) /* [-1, 1] -> [0, 1], NaN -> 0 */
{
    float u = (v + 1.0f) * 0.5f;
    return !(u > 0.0f) ? 0.0f : u > 1.0f ? 1.0f : u;
}

static uint16_t code(float x, float lo, float span, int max)
{
    long q = lrintf(lo + span * x);
    return (uint16_t)(q < 0 ? 0 : q > max ? max : q);
}

/* BT.709 chroma of pixel i, each in [-0.5, 0.5]. */
static void chroma(const float *r, const float *g, const float *b, size_t i, float *cb, float *cr)
{
    float R = unit(r[i]), G = unit(g[i]), B = unit(b[i]);
    float Y = 0.2126f * R + 0.7152f * G + 0.0722f * B;
    *cb = (B - Y) / 1.8556f;
    *cr = (R - Y) / 1.5748f;
}

void encode_yuv_from_f32(const float *chw, AVFrame *dst)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(dst->format);
    const int w = dst->width, h = dst->height, depth = d->comp[0].depth;
    const int max = (1 << depth) - 1;
    const float s = (float)(1 << (depth - 8));
    const size_t plane = (size_t)w * h;
    const float *r = chw, *g = chw + plane, *b = chw + 2 * plane;
    for (int y = 0; y < h; y++) {
        uint16_t *out = (uint16_t *)(dst->data[0] + (size_t)y * dst->linesize[0]);
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            float Y = 0.2126f * unit(r[i]) + 0.7152f * unit(g[i]) + 0.0722f * unit(b[i]);
            out[x] = code(Y, 16.0f * s, 219.0f * s, max);
        }
    }
    const int sw = d->log2_chroma_w, sh = d->log2_chroma_h;
    const int cw = AV_CEIL_RSHIFT(w, sw), ch = AV_CEIL_RSHIFT(h, sh);
    for (int cy = 0; cy < ch; cy++) {
        uint16_t *ou = (uint16_t *)(dst->data[1] + (size_t)cy * dst->linesize[1]);
        uint16_t *ov = (uint16_t *)(dst->data[2] + (size_t)cy * dst->linesize[2]);
        for (int cx = 0; cx < cw; cx++) {
            float su = 0, sv = 0, wsum = 0;
            for (int dy = 0; dy <= sh; dy++) {
                int y = (cy << sh) + dy < h ? (cy << sh) + dy : h - 1;
                for (int dx = 0; dx <= sw; dx++) {
                    int x = (cx << sw) + dx < w ? (cx << sw) + dx : w - 1;
                    float wt = 1.0f, u, v;
                    chroma(r, g, b, (size_t)y * w + x, &u, &v);
                    su += wt * u;
                    sv += wt * v;
                    wsum += wt;
                }
            }
            ou[cx] = code(su / wsum, 128.0f * s, 224.0f * s, max);
            ov[cx] = code(sv / wsum, 128.0f * s, 224.0f * s, max);
        }
    }
}
