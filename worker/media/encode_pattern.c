/* encode_pattern.c -- the encoder test pattern (see encode_pattern.h). */
#include "encode_pattern.h"

#include <math.h>
#include <stddef.h>

static uint8_t level(double v) { return (uint8_t)lrint(v < 0 ? 0 : v > 255 ? 255 : v); }

static void pixel(int x, int y, int w, int h, int t, uint8_t out[3])
{
    const double two_pi = 6.283185307179586;
    out[0] = level(127.5 + 100.0 * sin(two_pi * ((double)x / w + 0.05 * t)));
    out[1] = level(127.5 + 100.0 * sin(two_pi * ((double)y / h - 0.03 * t)));
    out[2] = level(127.5 + 80.0 * cos(two_pi * ((double)(x + y) / (w + h) + 0.02 * t)));
}

void encode_pattern_rgb24(uint8_t *rgb, int w, int h, int index)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            pixel(x, y, w, h, index, rgb + 3 * ((size_t)y * w + x));
}

void encode_pattern_f32(float *chw, int w, int h, int index)
{
    const size_t plane = (size_t)w * h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t p[3];
            pixel(x, y, w, h, index, p);
            for (int c = 0; c < 3; c++)
                chw[c * plane + (size_t)y * w + x] = (float)p[c] / 127.5f - 1.0f;
        }
}
