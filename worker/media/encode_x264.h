/*
 * encode_x264.h -- the libx264 options that make its output a function of
 * the frames alone (internal to encode.c).
 *
 * Debian's libx264 (0.164) reads memory it never wrote in its AVX-512 code
 * (the macroblock-tree lookahead): with MALLOC_PERTURB_ set to 1, 85 and 170
 * the same frames gave three different H.264 files at 48x48, 96x96, 160x160
 * and Wan's own 832x480, through ffmpeg's CLI as well, and a requeued job's
 * frames differed from the uninterrupted run's.  With AVX-512 left out (every
 * other instruction set the CPU has stays on) the files are identical for
 * every value, and identical to those of a CPU without AVX-512: x264's other
 * SIMD code is bit-exact with its C code.
 */
#ifndef DF_ENCODE_X264_H
#define DF_ENCODE_X264_H

#include <stddef.h>

/* Write the "x264-params" value (e.g. "asm=MMX2,SSE,...,AVX2") into dst[cap]:
 * the instruction sets this CPU has (libavutil's detection, so the OS saves
 * the registers), AVX-512 excluded.  Writes "" where nothing needs
 * restricting (non-x86 hosts).  Never fails; cap >= 256 always fits. */
void encode_x264_params(char *dst, size_t cap);

#endif /* DF_ENCODE_X264_H */
