/* encode_x264.c -- libx264 instruction sets without AVX-512 (see encode_x264.h). */
#include "encode_x264.h"

#include <libavutil/cpu.h>

#include <stdio.h>
#include <string.h>

void encode_x264_params(char *dst, size_t cap)
{
    dst[0] = '\0';
#if defined(__x86_64__) || defined(__i386__)
    /* libavutil flag -> x264's name for it (x264's names imply their
     * prerequisites, so listing each present one is exact). */
    static const struct {
        int av;
        const char *x264;
    } k_sets[] = {
        {AV_CPU_FLAG_MMXEXT, "MMX2"}, {AV_CPU_FLAG_SSE, "SSE"},     {AV_CPU_FLAG_SSE2, "SSE2"},
        {AV_CPU_FLAG_SSE3, "SSE3"},   {AV_CPU_FLAG_SSSE3, "SSSE3"}, {AV_CPU_FLAG_SSE4, "SSE4.1"},
        {AV_CPU_FLAG_SSE42, "SSE4.2"}, {AV_CPU_FLAG_AVX, "AVX"},    {AV_CPU_FLAG_XOP, "XOP"},
        {AV_CPU_FLAG_FMA4, "FMA4"},   {AV_CPU_FLAG_FMA3, "FMA3"},   {AV_CPU_FLAG_BMI1, "BMI1"},
        {AV_CPU_FLAG_BMI2, "BMI2"},   {AV_CPU_FLAG_AVX2, "AVX2"},
    };
    const int have = av_get_cpu_flags();
    size_t at = (size_t)snprintf(dst, cap, "asm=");
    int any = 0;
    for (size_t i = 0; i < sizeof k_sets / sizeof k_sets[0] && at < cap; i++) {
        if (!(have & k_sets[i].av))
            continue;
        at += (size_t)snprintf(dst + at, cap - at, "%s%s", any ? "," : "", k_sets[i].x264);
        any = 1;
    }
    if (!any || at >= cap) /* plain C code needs no restriction; never truncate a list */
        dst[0] = '\0';
#else
    (void)cap;
#endif
}
