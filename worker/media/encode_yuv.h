/*
 * encode_yuv.h -- float RGB straight to 10/12-bit planar YUV (internal to
 * encode.c), for the float frames of deep outputs (ProRes yuv422p10le).
 *
 * Why not libswscale: its 16-bit RGB input path overshoots by about 0.3%
 * (white lands on Y=943 instead of 940 at 10 bits), which shows as a level
 * shift in a grade.  Here the BT.709 matrix is applied in float, limited range,
 * and chroma is the mean of each 2x1 (4:2:2) or 2x2 (4:2:0) block: centre-sited,
 * the convention libswscale uses both when encode.c converts bytes and when
 * FFmpeg-based players convert back, so both entry points give the same picture.
 */
#ifndef DF_ENCODE_YUV_H
#define DF_ENCODE_YUV_H

#include <libavutil/frame.h>
#include <libavutil/pixfmt.h>

/* 1 when encode_yuv_from_f32 can write `fmt` (planar YUV, 9..16 bits, native
 * little-endian, 4:4:4, 4:2:2 or 4:2:0, no alpha), else 0. */
int encode_yuv_supported(enum AVPixelFormat fmt);

/* Convert [3, h, w] floats in [-1, 1] (clamped; NaN -> -1) into `dst`, whose
 * format, width and height are set and buffers writable. */
void encode_yuv_from_f32(const float *chw, AVFrame *dst);

#endif
