/*
 * test_encode.c -- worker/media/encode.c: every codec round trip (encode the moving
 * pattern, decode it back with libavcodec, compare with the input RGB by PSNR),
 * audio muxing (AAC and copy, cut to the video length), metadata, fps, and the
 * bad inputs (exact messages, nothing left under the final name).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "encode.h"
#include "encode_pattern.h"

/* libx265 keeps one allocation for the life of the process (its global set-up),
 * which LeakSanitizer reports at exit in the ASan build; it is not ours.  This
 * is the sanitizer's documented hook, unused in other builds. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libx265.so\n"; }

/* ---- fixtures ------------------------------------------------------------- */

struct fx {
    char dir[64]; /* a fresh temporary directory per test */
};

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/df_encode_XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    av_log_set_level(AV_LOG_QUIET);
    *state = fx;
    return 0;
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            char sub[512];
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
    closedir(d);
    rmdir(path);
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    rm_rf(fx->dir);
    free(fx);
    return 0;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Neither the output nor its ".<name>.part" temporary may exist. */
static void assert_no_output(const char *dir, const char *name)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    assert_false(exists(p));
    snprintf(p, sizeof(p), "%s/.%s.part", dir, name);
    assert_false(exists(p));
}

/* A 16-bit PCM WAV of a 440 Hz sine, written by hand. */
static void write_wav(const char *path, int rate, int channels, double seconds)
{
    int n = (int)(rate * seconds);
    uint32_t data_bytes = (uint32_t)(n * channels * 2);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint8_t h[44];
    memcpy(h, "RIFF", 4);
    uint32_t v = 36 + data_bytes;
    memcpy(h + 4, &v, 4); /* little-endian host: the fields are stored as is */
    memcpy(h + 8, "WAVEfmt ", 8);
    v = 16;
    memcpy(h + 16, &v, 4);
    uint16_t s = 1; /* PCM */
    memcpy(h + 20, &s, 2);
    s = (uint16_t)channels;
    memcpy(h + 22, &s, 2);
    v = (uint32_t)rate;
    memcpy(h + 24, &v, 4);
    v = (uint32_t)(rate * channels * 2);
    memcpy(h + 28, &v, 4);
    s = (uint16_t)(channels * 2);
    memcpy(h + 32, &s, 2);
    s = 16;
    memcpy(h + 34, &s, 2);
    memcpy(h + 36, "data", 4);
    memcpy(h + 40, &data_bytes, 4);
    fwrite(h, 1, sizeof(h), f);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < channels; c++) {
            int16_t x = (int16_t)lrint(8000.0 * sin(2 * M_PI * 440.0 * i / rate));
            fwrite(&x, 2, 1, f);
        }
    fclose(f);
}

/* ---- decoding back -------------------------------------------------------- */

struct decoded {
    int n_frames, width, height;
    AVRational fps;        /* stream avg_frame_rate */
    uint8_t *rgb;          /* n_frames * [H, W, 3] */
    int has_audio;
    char audio_codec[32];
    double audio_seconds;  /* sum of audio packet durations */
    double video_seconds;  /* n_frames / fps */
    char prompt[64], seed[32], version[32]; /* container tags, "" when absent */
    char vcodec[32];
};

static void tag(AVDictionary *m, const char *key, char *out, size_t cap)
{
    const AVDictionaryEntry *e = av_dict_get(m, key, NULL, 0); /* case-insensitive */
    snprintf(out, cap, "%s", e ? e->value : "");
}

/* Convert a decoded frame to RGB24 with the matrix and range it is tagged with. */
static void frame_to_rgb(const AVFrame *f, uint8_t *dst)
{
    struct SwsContext *sws =
        sws_getContext(f->width, f->height, f->format, f->width, f->height, AV_PIX_FMT_RGB24,
                       SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_BITEXACT, NULL,
                       NULL, NULL);
    assert_non_null(sws);
    if (f->colorspace == AVCOL_SPC_BT709) {
        const int *coef = sws_getCoefficients(SWS_CS_ITU709);
        sws_setColorspaceDetails(sws, coef, f->color_range == AVCOL_RANGE_JPEG, coef, 1, 0,
                                 1 << 16, 1 << 16);
    }
    uint8_t *d[1] = {dst};
    int ls[1] = {3 * f->width};
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, d, ls);
    sws_freeContext(sws);
}

static void decode_file(const char *path, struct decoded *out)
{
    memset(out, 0, sizeof(*out));
    AVFormatContext *ic = NULL;
    assert_int_equal(avformat_open_input(&ic, path, NULL, NULL), 0);
    assert_true(avformat_find_stream_info(ic, NULL) >= 0);
    tag(ic->metadata, "prompt", out->prompt, sizeof(out->prompt));
    tag(ic->metadata, "seed", out->seed, sizeof(out->seed));
    tag(ic->metadata, "ditfarm_version", out->version, sizeof(out->version));
    int vi = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    int ai = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    assert_true(vi >= 0);
    AVStream *vs = ic->streams[vi];
    out->fps = vs->avg_frame_rate.num ? vs->avg_frame_rate : vs->r_frame_rate;
    snprintf(out->vcodec, sizeof(out->vcodec), "%s", avcodec_get_name(vs->codecpar->codec_id));
    if (ai >= 0) {
        out->has_audio = 1;
        snprintf(out->audio_codec, sizeof(out->audio_codec), "%s",
                 avcodec_get_name(ic->streams[ai]->codecpar->codec_id));
    }
    const AVCodec *dc = avcodec_find_decoder(vs->codecpar->codec_id);
    AVCodecContext *dec = avcodec_alloc_context3(dc);
    avcodec_parameters_to_context(dec, vs->codecpar);
    assert_int_equal(avcodec_open2(dec, dc, NULL), 0);
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    int cap = 0;
    for (int eof = 0; !eof;) {
        int rc = av_read_frame(ic, pkt);
        if (rc < 0) {
            eof = 1;
            avcodec_send_packet(dec, NULL);
        } else if (pkt->stream_index == ai) {
            out->audio_seconds += pkt->duration * av_q2d(ic->streams[ai]->time_base);
            av_packet_unref(pkt);
            continue;
        } else if (pkt->stream_index == vi) {
            assert_int_equal(avcodec_send_packet(dec, pkt), 0);
            av_packet_unref(pkt);
        } else {
            av_packet_unref(pkt);
            continue;
        }
        while (avcodec_receive_frame(dec, f) == 0) {
            out->width = f->width;
            out->height = f->height;
            size_t fb = (size_t)f->width * f->height * 3;
            if (out->n_frames == cap) {
                cap = cap ? 2 * cap : 8;
                out->rgb = realloc(out->rgb, fb * cap);
            }
            frame_to_rgb(f, out->rgb + fb * out->n_frames);
            out->n_frames++;
            av_frame_unref(f);
        }
    }
    out->video_seconds = out->n_frames * av_q2d(av_inv_q(out->fps));
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&ic);
}

static double psnr(const uint8_t *a, const uint8_t *b, size_t n)
{
    double se = 0;
    for (size_t i = 0; i < n; i++)
        se += (double)(a[i] - b[i]) * (a[i] - b[i]);
    if (se == 0)
        return INFINITY;
    return 10.0 * log10(255.0 * 255.0 / (se / n));
}

/* ---- encoding helpers ----------------------------------------------------- */

static int encode_pattern_file(const char *path, int w, int h, int frames,
                               const struct encode_opts *o, struct encode_result *res,
                               struct df_err *err)
{
    encode_t enc;
    int rc = encode_open(path, w, h, o, &enc, err);
    if (rc < 0)
        return rc;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int f = 0; f < frames && rc == 0; f++) {
        encode_pattern_rgb24(rgb, w, h, f);
        rc = encode_frame_rgb24(enc, rgb, err);
    }
    free(rgb);
    if (rc < 0) {
        encode_abort(enc);
        return rc;
    }
    return encode_close(enc, res, err);
}

/* Encode `frames` frames with `codec` to dir/name, decode, check size, count,
 * fps, tags, and that every frame's PSNR is >= min_db (INFINITY: exact). */
static void round_trip(const char *dir, const char *name, enum codec codec, int w, int h,
                       double min_db)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    const int frames = 6;
    struct encode_opts o;
    encode_opts_init(&o, codec);
    o.fps_num = 24;
    struct encode_meta meta[] = {{"prompt", "a red fox"}, {"seed", "1234"}};
    o.meta = meta;
    o.n_meta = 2;
    struct encode_result res;
    struct df_err err = {0};
    int rc = encode_pattern_file(path, w, h, frames, &o, &res, &err);
    if (rc < 0)
        fail_msg("%s: %s", name, err.msg);
    assert_int_equal(res.frames, frames);
    assert_string_equal(res.encoder, encode_encoder_name(codec));
    assert_string_equal(res.pix_fmt, encode_default_pix_fmt(codec));

    struct decoded d;
    char src[300];
    snprintf(src, sizeof(src), "%s%s", path, codec == CODEC_PNG ? "/" ENCODE_PNG_PATTERN : "");
    decode_file(src, &d);
    assert_int_equal(d.n_frames, frames);
    assert_int_equal(d.width, w);
    assert_int_equal(d.height, h);
    if (codec != CODEC_PNG) { /* a PNG sequence has neither a rate nor tags of its own */
        assert_int_equal(d.fps.num, 24);
        assert_int_equal(d.fps.den, 1);
        assert_string_equal(d.prompt, "a red fox");
        assert_string_equal(d.seed, "1234");
        assert_string_not_equal(d.version, "");
    }
    uint8_t *want = malloc((size_t)w * h * 3);
    for (int f = 0; f < frames; f++) {
        encode_pattern_rgb24(want, w, h, f);
        double db = psnr(want, d.rgb + (size_t)f * w * h * 3, (size_t)w * h * 3);
        if (getenv("DF_DEBUG"))
            fprintf(stderr, "%s %dx%d frame %d: PSNR %.2f dB\n", name, w, h, f, db);
        if (db < min_db)
            fail_msg("%s frame %d: PSNR %.2f dB < %.2f", name, f, db, min_db);
    }
    free(want);
    free(d.rgb);
    /* the temporary is gone */
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s/.%s.part", dir, name);
    assert_false(exists(tmp));
}

/* ---- codecs --------------------------------------------------------------- */

static void test_h264(void **state)
{
    struct fx *fx = *state;
    round_trip(fx->dir, "a.mp4", CODEC_H264, 64, 48, 35.0);
    round_trip(fx->dir, "b.mkv", CODEC_H264, 130, 66, 35.0);
}

static void test_hevc(void **state)
{
    struct fx *fx = *state;
    round_trip(fx->dir, "a.mp4", CODEC_HEVC, 64, 48, 35.0);
}

static void test_prores(void **state)
{
    struct fx *fx = *state;
    round_trip(fx->dir, "a.mov", CODEC_PRORES, 130, 66, 45.0);
}

static void test_ffv1_exact(void **state)
{
    struct fx *fx = *state;
    round_trip(fx->dir, "a.mkv", CODEC_FFV1, 64, 48, INFINITY);
    round_trip(fx->dir, "b.mkv", CODEC_FFV1, 65, 33, INFINITY); /* odd sizes: RGB has no chroma */
    round_trip(fx->dir, "c.mov", CODEC_FFV1, 64, 48, INFINITY);
}

static void test_png_exact(void **state)
{
    struct fx *fx = *state;
    round_trip(fx->dir, "seq", CODEC_PNG, 65, 33, INFINITY);
    char p[256];
    snprintf(p, sizeof(p), "%s/seq/frame_00005.png", fx->dir);
    assert_true(exists(p));
    snprintf(p, sizeof(p), "%s/seq/frame_00006.png", fx->dir);
    assert_false(exists(p));
}

/* Options from the manifest reach the encoder: pix_fmt (4:4:4 allows odd
 * sizes), average-bitrate mode, a fractional frame rate. */
static void test_h264_options(void **state)
{
    struct fx *fx = *state;
    char path[256];
    struct df_err err = {0};
    struct encode_result res;
    struct encode_opts o;
    encode_opts_init(&o, CODEC_H264);
    o.pix_fmt = "yuv444p";
    o.crf = 10;
    o.fps_num = 24000;
    o.fps_den = 1001;
    snprintf(path, sizeof(path), "%s/a.mkv", fx->dir);
    if (encode_pattern_file(path, 65, 33, 3, &o, &res, &err) < 0)
        fail_msg("%s", err.msg);
    assert_string_equal(res.pix_fmt, "yuv444p");
    struct decoded d;
    decode_file(path, &d);
    assert_int_equal(d.n_frames, 3);
    assert_int_equal(d.fps.num, 24000);
    assert_int_equal(d.fps.den, 1001);
    uint8_t want[65 * 33 * 3];
    encode_pattern_rgb24(want, 65, 33, 2);
    assert_true(psnr(want, d.rgb + 2 * sizeof(want), sizeof(want)) > 40.0);
    free(d.rgb);

    encode_opts_init(&o, CODEC_H264);
    o.bitrate = 300000;
    snprintf(path, sizeof(path), "%s/b.mp4", fx->dir);
    if (encode_pattern_file(path, 64, 48, 4, &o, &res, &err) < 0)
        fail_msg("%s", err.msg);
    decode_file(path, &d);
    assert_int_equal(d.n_frames, 4);
    free(d.rgb);
}

/* The float entry point maps [-1, 1] to bytes with rounding and clamping. */
static void test_float_entry(void **state)
{
    struct fx *fx = *state;
    const int w = 8, h = 2;
    char path[256];
    snprintf(path, sizeof(path), "%s/f.mkv", fx->dir);
    struct encode_opts o;
    encode_opts_init(&o, CODEC_FFV1);
    encode_t enc;
    struct df_err err = {0};
    assert_int_equal(encode_open(path, w, h, &o, &enc, &err), 0);
    float chw[3 * 8 * 2];
    encode_pattern_f32(chw, w, h, 0);
    assert_int_equal(encode_frame_f32(enc, chw, &err), 0);
    const float special[8] = {-2.0f, 2.0f, NAN, 0.0f, -1.0f, 1.0f, 0.5f, -0.999f};
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < w * h; i++)
            chw[c * w * h + i] = special[i % 8];
    assert_int_equal(encode_frame_f32(enc, chw, &err), 0);
    assert_int_equal(encode_close(enc, NULL, &err), 0);

    struct decoded d;
    decode_file(path, &d);
    assert_int_equal(d.n_frames, 2);
    uint8_t want[8 * 2 * 3];
    encode_pattern_rgb24(want, w, h, 0);
    assert_memory_equal(d.rgb, want, sizeof(want));
    /* -2 -> 0, 2 -> 255, NaN -> 0, 0 -> 127.5 -> 128, -1 -> 0, 1 -> 255,
     * 0.5 -> 191.25 -> 191, -0.999 -> 0.1275 -> 0 */
    const uint8_t expect[8] = {0, 255, 0, 128, 0, 255, 191, 0};
    for (int i = 0; i < w * h; i++)
        for (int c = 0; c < 3; c++)
            assert_int_equal(d.rgb[sizeof(want) + 3 * i + c], expect[i % 8]);
    free(d.rgb);
}

/* Mean |Y - ideal| (in 10-bit code values) over row `row` of the first frame
 * of a yuv422p10le file whose frame is a gray ramp with float values v[x]. */
static double y10_error(const char *path, const float *v, int w, int row)
{
    AVFormatContext *ic = NULL;
    assert_int_equal(avformat_open_input(&ic, path, NULL, NULL), 0);
    assert_true(avformat_find_stream_info(ic, NULL) >= 0);
    AVStream *vs = ic->streams[0];
    const AVCodec *dc = avcodec_find_decoder(vs->codecpar->codec_id);
    AVCodecContext *dec = avcodec_alloc_context3(dc);
    avcodec_parameters_to_context(dec, vs->codecpar);
    assert_int_equal(avcodec_open2(dec, dc, NULL), 0);
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    assert_int_equal(av_read_frame(ic, pkt), 0);
    assert_int_equal(avcodec_send_packet(dec, pkt), 0);
    assert_int_equal(avcodec_receive_frame(dec, f), 0);
    assert_int_equal(f->format, AV_PIX_FMT_YUV422P10LE);
    const uint16_t *y = (const uint16_t *)(f->data[0] + (size_t)row * f->linesize[0]);
    double sum = 0;
    for (int x = 0; x < w; x++)
        sum += fabs(y[x] - (64.0 + 876.0 * (v[x] + 1.0) / 2.0));
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&ic);
    return sum / w;
}

/* The float entry point keeps sub-8-bit precision in 10-bit ProRes: a shallow
 * gray ramp lands closer to its ideal 10-bit levels than through bytes. */
static void test_float_10bit(void **state)
{
    struct fx *fx = *state;
    enum { W = 64, H = 16 };
    float v[W], chw[3 * W * H];
    uint8_t rgb[W * H * 3];
    for (int x = 0; x < W; x++)
        v[x] = -0.2f + 0.02f * x / (W - 1);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                chw[(c * H + y) * W + x] = v[x];
                rgb[(y * W + x) * 3 + c] = (uint8_t)lrintf((v[x] + 1.0f) * 127.5f);
            }
    struct encode_opts o;
    encode_opts_init(&o, CODEC_PRORES);
    struct df_err err = {0};
    char a[256], b[256];
    snprintf(a, sizeof(a), "%s/f.mov", fx->dir);
    snprintf(b, sizeof(b), "%s/b.mov", fx->dir);
    encode_t enc;
    assert_int_equal(encode_open(a, W, H, &o, &enc, &err), 0);
    assert_int_equal(encode_frame_f32(enc, chw, &err), 0);
    assert_int_equal(encode_close(enc, NULL, &err), 0);
    assert_int_equal(encode_open(b, W, H, &o, &enc, &err), 0);
    assert_int_equal(encode_frame_rgb24(enc, rgb, &err), 0);
    assert_int_equal(encode_close(enc, NULL, &err), 0);
    double e_float = y10_error(a, v, W, H / 2), e_bytes = y10_error(b, v, W, H / 2);
    if (getenv("DF_DEBUG"))
        fprintf(stderr, "10-bit ramp error: float path %.3f, byte path %.3f\n", e_float, e_bytes);
    assert_true(e_float < 0.5);
    assert_true(e_float < e_bytes / 2);

    /* colours too: the moving pattern through the float path decodes back close */
    enum { PW = 130, PH = 66 };
    static float pf[3 * PW * PH];
    static uint8_t want[PW * PH * 3];
    char c[256];
    snprintf(c, sizeof(c), "%s/c.mov", fx->dir);
    assert_int_equal(encode_open(c, PW, PH, &o, &enc, &err), 0);
    for (int f = 0; f < 3; f++) {
        encode_pattern_f32(pf, PW, PH, f);
        assert_int_equal(encode_frame_f32(enc, pf, &err), 0);
    }
    assert_int_equal(encode_close(enc, NULL, &err), 0);
    struct decoded d;
    decode_file(c, &d);
    assert_int_equal(d.n_frames, 3);
    for (int f = 0; f < 3; f++) {
        encode_pattern_rgb24(want, PW, PH, f);
        double db = psnr(want, d.rgb + (size_t)f * sizeof(want), sizeof(want));
        if (getenv("DF_DEBUG"))
            fprintf(stderr, "prores float path frame %d: PSNR %.2f dB\n", f, db);
        if (db < 50.0)
            fail_msg("prores float path frame %d: PSNR %.2f dB < 50", f, db);
    }
    free(d.rgb);
}

/* ---- audio ---------------------------------------------------------------- */

static void audio_case(const char *dir, const char *name, enum codec codec, const char *want_codec,
                       int want_copied)
{
    char wav[256], path[256];
    snprintf(wav, sizeof(wav), "%s/tone.wav", dir);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    write_wav(wav, 44100, 2, 2.0); /* 2 s of audio under 0.5 s of video: cut */
    struct encode_opts o;
    encode_opts_init(&o, codec);
    o.fps_num = 24;
    o.audio_path = wav;
    struct encode_result res;
    struct df_err err = {0};
    if (encode_pattern_file(path, 64, 48, 12, &o, &res, &err) < 0)
        fail_msg("%s: %s", name, err.msg);
    assert_int_equal(res.has_audio, 1);
    assert_int_equal(res.audio_copied, want_copied);
    struct decoded d;
    decode_file(path, &d);
    assert_int_equal(d.n_frames, 12);
    assert_int_equal(d.has_audio, 1);
    assert_string_equal(d.audio_codec, want_codec);
    /* -shortest: the track ends within one packet (< 50 ms) of the video's end */
    if (fabs(d.audio_seconds - 0.5) > 0.05)
        fail_msg("%s: audio lasts %.3f s, video 0.5 s", name, d.audio_seconds);
    free(d.rgb);
}

static void test_audio_aac(void **state)
{
    struct fx *fx = *state;
    audio_case(fx->dir, "a.mp4", CODEC_H264, "aac", 0); /* mp4 cannot hold PCM: AAC */
}

static void test_audio_copy(void **state)
{
    struct fx *fx = *state;
    audio_case(fx->dir, "a.mkv", CODEC_FFV1, "pcm_s16le", 1);
    audio_case(fx->dir, "b.mov", CODEC_PRORES, "pcm_s16le", 1);
}

/* An AAC track (here from a file we made, which also holds video) is copied
 * into mp4 as is, starting at 0 and cut to the video. */
static void test_audio_copy_aac(void **state)
{
    struct fx *fx = *state;
    char wav[256], src[256], out[256];
    snprintf(wav, sizeof(wav), "%s/tone.wav", fx->dir);
    snprintf(src, sizeof(src), "%s/src.mp4", fx->dir);
    snprintf(out, sizeof(out), "%s/out.mp4", fx->dir);
    write_wav(wav, 48000, 2, 2.0);
    struct encode_opts o;
    encode_opts_init(&o, CODEC_H264);
    o.fps_num = 24;
    o.audio_path = wav;
    struct encode_result res;
    struct df_err err = {0};
    assert_int_equal(encode_pattern_file(src, 64, 48, 48, &o, &res, &err), 0); /* 2 s, AAC */
    assert_int_equal(res.audio_copied, 0);
    o.audio_path = src;
    if (encode_pattern_file(out, 64, 48, 12, &o, &res, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(res.audio_copied, 1);
    struct decoded d;
    decode_file(out, &d);
    assert_int_equal(d.n_frames, 12);
    assert_string_equal(d.audio_codec, "aac");
    if (fabs(d.audio_seconds - 0.5) > 0.05)
        fail_msg("copied AAC lasts %.3f s, video 0.5 s", d.audio_seconds);
    free(d.rgb);
}

/* Audio shorter than the video is kept as is (not padded). */
static void test_audio_shorter(void **state)
{
    struct fx *fx = *state;
    char wav[256], path[256];
    snprintf(wav, sizeof(wav), "%s/short.wav", fx->dir);
    snprintf(path, sizeof(path), "%s/s.mp4", fx->dir);
    write_wav(wav, 48000, 1, 0.25);
    struct encode_opts o;
    encode_opts_init(&o, CODEC_H264);
    o.fps_num = 24;
    o.audio_path = wav;
    struct df_err err = {0};
    assert_int_equal(encode_pattern_file(path, 64, 48, 24, &o, NULL, &err), 0);
    struct decoded d;
    decode_file(path, &d);
    assert_int_equal(d.n_frames, 24);
    assert_true(d.has_audio);
    assert_true(d.audio_seconds > 0.2 && d.audio_seconds < 0.35);
    free(d.rgb);
}

/* ---- bad input ------------------------------------------------------------ */

static int open_err(const char *path, int w, int h, const struct encode_opts *o,
                    struct df_err *err)
{
    encode_t enc = NULL;
    int rc = encode_open(path, w, h, o, &enc, err);
    assert_null(enc);
    return rc;
}

static void test_bad_codec_and_options(void **state)
{
    struct fx *fx = *state;
    char path[256], msg[512];
    struct df_err err = {0};
    struct encode_opts o;
    snprintf(path, sizeof(path), "%s/x.mp4", fx->dir);

    encode_opts_init(&o, CODEC_COUNT);
    assert_int_equal(open_err(path, 64, 48, &o, &err), DF_E_INVAL);
    snprintf(msg, sizeof(msg),
             "encode '%s': unknown codec 5 (known: h264, hevc, prores, ffv1, png)", path);
    assert_string_equal(err.msg, msg);

    encode_opts_init(&o, CODEC_H264);
    assert_int_equal(open_err(path, 65, 48, &o, &err), DF_E_INVAL);
    snprintf(msg, sizeof(msg), "encode '%s': 65x48 does not fit pixel format 'yuv420p' (width "
             "must be a multiple of 2, height of 2)", path);
    assert_string_equal(err.msg, msg);

    o.pix_fmt = "rgb24";
    assert_int_equal(open_err(path, 64, 48, &o, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "codec 'h264' cannot write pixel format 'rgb24' (it takes: "
                                    "yuv420p "));
    o.pix_fmt = "nonsense";
    assert_int_equal(open_err(path, 64, 48, &o, &err), DF_E_INVAL);
    snprintf(msg, sizeof(msg), "encode '%s': unknown pixel format 'nonsense'", path);
    assert_string_equal(err.msg, msg);

    encode_opts_init(&o, CODEC_H264);
    o.crf = 20;
    o.bitrate = 1000000;
    assert_int_equal(open_err(path, 64, 48, &o, &err), DF_E_INVAL);
    snprintf(msg, sizeof(msg),
             "encode '%s': crf 20 and bitrate 1000000 are exclusive (set crf to -1)", path);
    assert_string_equal(err.msg, msg);

    encode_opts_init(&o, CODEC_H264);
    o.fps_num = 0;
    assert_int_equal(open_err(path, 64, 48, &o, &err), DF_E_INVAL);
    snprintf(msg, sizeof(msg), "encode '%s': fps 0/1 must be positive", path);
    assert_string_equal(err.msg, msg);

    encode_opts_init(&o, CODEC_PRORES);
    assert_int_equal(open_err(path, 64, 48, &o, &err), DF_E_INVAL);
    snprintf(msg, sizeof(msg), "encode '%s': the mp4 container cannot hold prores (use .mkv or "
             ".mov)", path);
    assert_string_equal(err.msg, msg);

    snprintf(path, sizeof(path), "%s/x.frob", fx->dir);
    encode_opts_init(&o, CODEC_H264);
    assert_int_equal(open_err(path, 64, 48, &o, &err), DF_E_INVAL);
    snprintf(msg, sizeof(msg), "encode '%s': cannot tell the container from the file name (use "
             ".mp4, .mov or .mkv)", path);
    assert_string_equal(err.msg, msg);

    snprintf(path, sizeof(path), "%s/seq", fx->dir);
    encode_opts_init(&o, CODEC_PNG);
    o.audio_path = "/a.wav";
    assert_int_equal(open_err(path, 64, 48, &o, &err), DF_E_INVAL);
    snprintf(msg, sizeof(msg), "encode '%s': a png sequence cannot carry the audio track "
             "'/a.wav' (use h264, hevc, prores or ffv1)", path);
    assert_string_equal(err.msg, msg);
    assert_no_output(fx->dir, "x.mp4");
    assert_no_output(fx->dir, "x.frob");
    assert_no_output(fx->dir, "seq");
}

static void test_unwritable_path(void **state)
{
    (void)state;
    struct df_err err = {0};
    struct encode_opts o;
    encode_opts_init(&o, CODEC_H264);
    assert_int_equal(open_err("/nonexistent-dir/x.mp4", 64, 48, &o, &err), DF_E_IO);
    assert_string_equal(err.msg, "encode '/nonexistent-dir/x.mp4': cannot create the temporary "
                                 "output: No such file or directory");
    encode_opts_init(&o, CODEC_PNG);
    assert_int_equal(open_err("/nonexistent-dir/seq", 64, 48, &o, &err), DF_E_IO);
    assert_string_equal(err.msg, "encode '/nonexistent-dir/seq': cannot create "
                                 "'/nonexistent-dir/.seq.part': No such file or directory");
}

static void test_audio_missing_or_corrupt(void **state)
{
    struct fx *fx = *state;
    char path[256], wav[256], msg[600];
    struct df_err err = {0};
    struct encode_opts o;
    snprintf(path, sizeof(path), "%s/x.mp4", fx->dir);
    snprintf(wav, sizeof(wav), "%s/missing.wav", fx->dir);
    encode_opts_init(&o, CODEC_H264);
    o.audio_path = wav;
    assert_int_equal(open_err(path, 64, 48, &o, &err), DF_E_NOTFOUND);
    snprintf(msg, sizeof(msg), "audio '%s': cannot open: No such file or directory", wav);
    assert_string_equal(err.msg, msg);
    assert_no_output(fx->dir, "x.mp4");

    /* garbage bytes, and a WAV header cut short (tests/data/bad/) */
    const char *bad[] = {"audio_garbage.wav", "audio_truncated.wav"};
    for (int i = 0; i < 2; i++) {
        snprintf(wav, sizeof(wav), "%s/bad/%s", DF_TEST_DATA, bad[i]);
        assert_int_equal(open_err(path, 64, 48, &o, &err), DF_E_PARSE);
        snprintf(msg, sizeof(msg), "audio '%s': not a readable audio file: Invalid data found "
                 "when processing input", wav);
        assert_string_equal(err.msg, msg);
        assert_no_output(fx->dir, "x.mp4");
    }
}

static void test_abort_and_empty_leave_nothing(void **state)
{
    struct fx *fx = *state;
    char path[256], msg[512];
    struct df_err err = {0};
    struct encode_opts o;
    encode_opts_init(&o, CODEC_H264);
    snprintf(path, sizeof(path), "%s/x.mp4", fx->dir);
    encode_t enc;
    uint8_t rgb[64 * 48 * 3];
    encode_pattern_rgb24(rgb, 64, 48, 0);

    /* abort mid-way: the .part exists while encoding, and nothing after */
    assert_int_equal(encode_open(path, 64, 48, &o, &enc, &err), 0);
    assert_int_equal(encode_frame_rgb24(enc, rgb, &err), 0);
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s/.x.mp4.part", fx->dir);
    assert_true(exists(tmp));
    assert_false(exists(path));
    encode_abort(enc);
    assert_no_output(fx->dir, "x.mp4");

    /* closing with no frame is an error and leaves nothing */
    assert_int_equal(encode_open(path, 64, 48, &o, &enc, &err), 0);
    assert_int_equal(encode_close(enc, NULL, &err), DF_E_INVAL);
    snprintf(msg, sizeof(msg), "encode '%s': no frame was encoded", path);
    assert_string_equal(err.msg, msg);
    assert_no_output(fx->dir, "x.mp4");

    /* the same for a PNG sequence directory */
    snprintf(path, sizeof(path), "%s/seq", fx->dir);
    encode_opts_init(&o, CODEC_PNG);
    assert_int_equal(encode_open(path, 64, 48, &o, &enc, &err), 0);
    assert_int_equal(encode_frame_rgb24(enc, rgb, &err), 0);
    encode_abort(enc);
    assert_no_output(fx->dir, "seq");

    encode_abort(NULL);
    assert_int_equal(encode_close(NULL, NULL, &err), 0);
}

/* Re-encoding replaces an existing output (file or directory) in one rename,
 * and a stale .part from a crash does not get in the way. */
static void test_replace_existing(void **state)
{
    struct fx *fx = *state;
    char path[256], tmp[300];
    struct df_err err = {0};
    struct encode_opts o;
    snprintf(path, sizeof(path), "%s/seq", fx->dir);
    encode_opts_init(&o, CODEC_PNG);
    assert_int_equal(encode_pattern_file(path, 16, 16, 4, &o, NULL, &err), 0);
    snprintf(tmp, sizeof(tmp), "%s/.seq.part", fx->dir);
    mkdir(tmp, 0777); /* stale */
    assert_int_equal(encode_pattern_file(path, 16, 16, 2, &o, NULL, &err), 0);
    char p[300];
    snprintf(p, sizeof(p), "%s/frame_00001.png", path);
    assert_true(exists(p));
    snprintf(p, sizeof(p), "%s/frame_00002.png", path);
    assert_false(exists(p)); /* the old, longer sequence is gone */
    assert_false(exists(tmp));

    snprintf(path, sizeof(path), "%s/v.mkv", fx->dir);
    encode_opts_init(&o, CODEC_FFV1);
    assert_int_equal(encode_pattern_file(path, 16, 16, 4, &o, NULL, &err), 0);
    assert_int_equal(encode_pattern_file(path, 16, 16, 2, &o, NULL, &err), 0);
    struct decoded d;
    decode_file(path, &d);
    assert_int_equal(d.n_frames, 2);
    free(d.rgb);
}

/* Same input, same bytes: bitexact muxing (no random UIDs) keeps checksums stable. */
static void test_deterministic(void **state)
{
    struct fx *fx = *state;
    char a[256], b[256];
    struct df_err err = {0};
    struct encode_opts o;
    encode_opts_init(&o, CODEC_FFV1);
    snprintf(a, sizeof(a), "%s/a.mkv", fx->dir);
    snprintf(b, sizeof(b), "%s/b.mkv", fx->dir);
    assert_int_equal(encode_pattern_file(a, 32, 16, 3, &o, NULL, &err), 0);
    assert_int_equal(encode_pattern_file(b, 32, 16, 3, &o, NULL, &err), 0);
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int ca, cb;
    do {
        ca = fgetc(fa);
        cb = fgetc(fb);
        assert_int_equal(ca, cb);
    } while (ca != EOF);
    fclose(fa);
    fclose(fb);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(encode_encoder_name(CODEC_H264), "libx264");
    assert_string_equal(encode_encoder_name(CODEC_COUNT), "?");
    assert_string_equal(encode_default_pix_fmt(CODEC_PRORES), "yuv422p10le");
    assert_string_equal(encode_default_pix_fmt(CODEC_FFV1), "bgr0");
    assert_int_equal(encode_codec_available(CODEC_COUNT), 0);
    assert_int_equal(encode_codec_available(CODEC_PNG), 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_names),
        T(test_h264),
        T(test_h264_options),
        T(test_hevc),
        T(test_prores),
        T(test_ffv1_exact),
        T(test_png_exact),
        T(test_float_entry),
        T(test_float_10bit),
        T(test_audio_aac),
        T(test_audio_copy),
        T(test_audio_copy_aac),
        T(test_audio_shorter),
        T(test_bad_codec_and_options),
        T(test_unwritable_path),
        T(test_audio_missing_or_corrupt),
        T(test_abort_and_empty_leave_nothing),
        T(test_replace_existing),
        T(test_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
