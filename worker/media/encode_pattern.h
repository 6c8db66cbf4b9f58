/*
 * encode_pattern.h -- a smooth, moving RGB test pattern (three drifting sine
 * waves) for the encoder's tests and the `encode-test-pattern` subcommand.
 * Smooth so that lossy codecs reach their nominal quality on it; moving so that
 * inter-frame coding and frame order are exercised.
 */
#ifndef DF_ENCODE_PATTERN_H
#define DF_ENCODE_PATTERN_H

#include <stdint.h>

/* Frame `index` of the pattern as packed RGB, [h, w, 3] bytes. */
void encode_pattern_rgb24(uint8_t *rgb, int w, int h, int index);

/* The same frame as the VAE would output it: planar [3, h, w] floats in
 * [-1, 1], chosen so that encode_frame_f32() turns it back into exactly
 * encode_pattern_rgb24()'s bytes. */
void encode_pattern_f32(float *chw, int w, int h, int index);

#endif
