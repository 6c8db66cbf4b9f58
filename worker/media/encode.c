/*
 * encode.c -- frames -> video file or PNG sequence (see encode.h).
 *
 * States: open (temporary output created, header written) -> frames ->
 * close (flush, audio tail, trailer, fsync, rename) | abort (remove).  Once a
 * call fails the context is `failed`: frames are refused and close removes the
 * temporary output, so the final name only ever holds a complete file.
 */
#include "encode.h"
#include "ckd.h"

#include "df_version.h"
#include "encode_audio.h"
#include "encode_x264.h"
#include "encode_yuv.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENCODE_MAGIC 0x454e4344u /* "ENCD" */

/* Per-codec facts; indexed by enum codec. */
struct codec_info {
    const char *name;      /* manifest spelling, for messages */
    const char *encoder;   /* libavcodec encoder name */
    const char *pix_fmt;   /* default pixel format */
    int crf_default;       /* -1: no crf for this codec */
};

static const struct codec_info k_codecs[] = {
    [CODEC_H264] = {"h264", "libx264", "yuv420p", 18},
    [CODEC_HEVC] = {"hevc", "libx265", "yuv420p", 20},
    [CODEC_PRORES] = {"prores", "prores_ks", "yuv422p10le", -1},
    [CODEC_FFV1] = {"ffv1", "ffv1", "bgr0", -1},
    [CODEC_PNG] = {"png", "png", "rgb24", -1},
};
_Static_assert(sizeof(k_codecs) / sizeof(k_codecs[0]) == CODEC_COUNT, "every codec needs a row");

struct encode_ctx {
    uint32_t magic;            /* ENCODE_MAGIC while alive */
    enum codec codec;
    int width, height;         /* frame size in pixels */
    AVRational fps;            /* frames per second */
    char *final_path;          /* the output name given to encode_open */
    char *tmp_path;            /* ".<name>.part" next to it */
    int is_seq;                /* PNG sequence: tmp_path is a directory */
    AVFormatContext *oc;       /* muxer; NULL for a PNG sequence */
    AVStream *vst;             /* video stream in oc */
    AVCodecContext *cc;        /* video encoder */
    struct SwsContext *sws;    /* rgb24 -> encoder pixel format */
    int deep_f32;              /* float frames go through encode_yuv (> 8-bit YUV) */
    AVFrame *frame;            /* encoder-format frame, reused */
    AVPacket *pkt;             /* encoder output, reused */
    uint8_t *rgb;              /* [H][rgb_stride] packed RGB24 rows handed to sws_scale */
    int rgb_stride;            /* bytes per row: 3*W rounded up to RGB_ALIGN */
    int64_t n_frames;          /* frames sent to the encoder */
    int64_t n_files;           /* PNG files written */
    struct encode_audio *audio; /* audio source, or NULL */
    int failed;                /* a call failed: only close/abort remain */
};

/* ---- codec table ---------------------------------------------------------- */

static const struct codec_info *codec_info(enum codec c)
{
    return (unsigned)c < CODEC_COUNT ? &k_codecs[c] : NULL;
}

const char *encode_encoder_name(enum codec codec)
{
    const struct codec_info *ci = codec_info(codec);
    return ci ? ci->encoder : "?";
}

const char *encode_default_pix_fmt(enum codec codec)
{
    const struct codec_info *ci = codec_info(codec);
    return ci ? ci->pix_fmt : "?";
}

int encode_codec_available(enum codec codec)
{
    const struct codec_info *ci = codec_info(codec);
    return ci && avcodec_find_encoder_by_name(ci->encoder) != NULL;
}

void encode_opts_init(struct encode_opts *opts, enum codec codec)
{
    memset(opts, 0, sizeof(*opts));
    opts->codec = codec;
    opts->crf = -1;
    opts->fps_num = 16; /* Wan2.1 renders at 16 fps */
    opts->fps_den = 1;
}

/* ---- paths ---------------------------------------------------------------- */

/* ".<name>.part" in the same directory as `path` (same filesystem: rename is atomic). */
static char *temp_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = path + dir_len;
    size_t n = strlen(path) + 8;
    char *t = malloc(n);
    if (t)
        snprintf(t, n, "%.*s.%s.part", (int)dir_len, path, base);
    return t;
}

/* Remove a file, or a directory and the files directly in it (our PNG dirs). */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
    rmdir(path);
}

static int fsync_path(const char *path, int flags, struct df_err *err)
{
    int fd = open(path, flags | O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return df_err_errno(err, DF_E_IO, "fsync: open '%s'", path);
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    /* Some filesystems refuse fsync on directories (EINVAL): nothing to flush there. */
    if (rc < 0 && !(saved == EINVAL && (flags & O_DIRECTORY))) {
        errno = saved;
        return df_err_errno(err, DF_E_IO, "fsync '%s'", path);
    }
    return 0;
}

static int fsync_parent(const char *path, struct df_err *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return fsync_path(".", O_DIRECTORY, err);
    if (slash == path)
        return fsync_path("/", O_DIRECTORY, err);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    return fsync_path(dir, O_DIRECTORY, err);
}

/* rename(2) replaces a file but not a non-empty directory: move an old PNG
 * sequence aside first, and delete it once the new one is in place. */
static int publish(struct encode_ctx *e, struct df_err *err)
{
    char old[4200] = "";
    struct stat st;
    if (e->is_seq && stat(e->final_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(old, sizeof(old), "%s.old", e->tmp_path);
        remove_tree(old);
        if (rename(e->final_path, old) < 0)
            return df_err_errno(err, DF_E_IO, "cannot replace '%s'", e->final_path);
    }
    if (rename(e->tmp_path, e->final_path) < 0) {
        int rc = df_err_errno(err, DF_E_IO, "rename '%s' -> '%s'", e->tmp_path, e->final_path);
        if (old[0])
            rename(old, e->final_path);
        return rc;
    }
    if (old[0])
        remove_tree(old);
    return fsync_parent(e->final_path, err);
}

/* ---- open ----------------------------------------------------------------- */

static int av_fail(struct df_err *err, int code, const struct encode_ctx *e, const char *what,
                   int averr)
{
    char buf[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(averr, buf, sizeof(buf));
    return df_err_set(err, code, "encode '%s': %s: %s", e->final_path, what, buf);
}

static void list_available(char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int c = 0; c < CODEC_COUNT && n < cap; c++)
        if (encode_codec_available((enum codec)c))
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", k_codecs[c].name);
    if (!buf[0])
        snprintf(buf, cap, "none");
}

static int check_opts(const char *path, int w, int h, const struct encode_opts *o,
                      struct df_err *err)
{
    const struct codec_info *ci = codec_info(o->codec);
    DF_FAIL_IF(!ci, err, DF_E_INVAL, "encode '%s': unknown codec %d (known: h264, hevc, prores, "
               "ffv1, png)", path, (int)o->codec);
    DF_FAIL_IF(w <= 0 || h <= 0 || w > 16384 || h > 16384, err, DF_E_INVAL,
               "encode '%s': frame size %dx%d out of range (1..16384)", path, w, h);
    DF_FAIL_IF(o->fps_num <= 0 || o->fps_den <= 0, err, DF_E_INVAL,
               "encode '%s': fps %d/%d must be positive", path, o->fps_num, o->fps_den);
    DF_FAIL_IF(o->bitrate < 0, err, DF_E_INVAL, "encode '%s': negative bitrate %lld", path,
               (long long)o->bitrate);
    DF_FAIL_IF(o->bitrate > 0 && o->crf >= 0 && ci->crf_default >= 0, err, DF_E_INVAL,
               "encode '%s': crf %d and bitrate %lld are exclusive (set crf to -1)", path, o->crf,
               (long long)o->bitrate);
    DF_FAIL_IF(o->crf > 51 || o->crf < -1, err, DF_E_INVAL,
               "encode '%s': crf %d out of range (0..51, or -1 for the default)", path, o->crf);
    DF_FAIL_IF(o->n_meta > ENCODE_MAX_META, err, DF_E_INVAL,
               "encode '%s': %zu metadata tags, at most %d", path, o->n_meta, ENCODE_MAX_META);
    DF_FAIL_IF(o->codec == CODEC_PNG && o->audio_path, err, DF_E_INVAL,
               "encode '%s': a png sequence cannot carry the audio track '%s' (use h264, hevc, "
               "prores or ffv1)", path, o->audio_path);
    if (!encode_codec_available(o->codec)) {
        char avail[128];
        list_available(avail, sizeof(avail));
        return df_err_set(err, DF_E_UNSUPPORTED,
                          "encode '%s': codec '%s' needs the FFmpeg encoder '%s', which this "
                          "libavcodec lacks (available: %s)", path, ci->name, ci->encoder, avail);
    }
    return 0;
}

/* Resolve and check the pixel format against the encoder and the frame size. */
static int pick_pix_fmt(struct encode_ctx *e, const AVCodec *codec, const char *want,
                        enum AVPixelFormat *out, struct df_err *err)
{
    const char *name = want && want[0] ? want : k_codecs[e->codec].pix_fmt;
    enum AVPixelFormat pf = av_get_pix_fmt(name);
    DF_FAIL_IF(pf == AV_PIX_FMT_NONE, err, DF_E_INVAL, "encode '%s': unknown pixel format '%s'",
               e->final_path, name);
    int ok = 0;
    char list[512] = "";
    size_t n = 0;
    for (const enum AVPixelFormat *p = codec->pix_fmts; p && *p != AV_PIX_FMT_NONE; p++) {
        ok |= *p == pf;
        if (n < sizeof(list))
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? " " : "",
                                  av_get_pix_fmt_name(*p));
    }
    DF_FAIL_IF(!ok, err, DF_E_INVAL, "encode '%s': codec '%s' cannot write pixel format '%s' "
               "(it takes: %s)", e->final_path, k_codecs[e->codec].name, name, list);
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(pf);
    int cw = 1 << d->log2_chroma_w, ch = 1 << d->log2_chroma_h;
    DF_FAIL_IF(e->width % cw || e->height % ch, err, DF_E_INVAL,
               "encode '%s': %dx%d does not fit pixel format '%s' (width must be a multiple of "
               "%d, height of %d)", e->final_path, e->width, e->height, name, cw, ch);
    *out = pf;
    return 0;
}

static int is_rgb(enum AVPixelFormat pf)
{
    return (av_pix_fmt_desc_get(pf)->flags & AV_PIX_FMT_FLAG_RGB) != 0;
}

/* Exact conversion: accurate rounding and full chroma interpolation, and the
 * same BT.709 limited-range matrix that the stream is tagged with. */
static int make_sws(struct encode_ctx *e, enum AVPixelFormat src, enum AVPixelFormat dst,
                    struct SwsContext **out, struct df_err *err)
{
    *out = sws_getContext(e->width, e->height, src, e->width, e->height, dst,
                          SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_BITEXACT,
                          NULL, NULL, NULL);
    DF_FAIL_IF(!*out, err, DF_E_UNSUPPORTED, "encode '%s': no conversion %s -> %s",
               e->final_path, av_get_pix_fmt_name(src), av_get_pix_fmt_name(dst));
    if (!is_rgb(dst)) {
        const int *coef = sws_getCoefficients(SWS_CS_ITU709);
        sws_setColorspaceDetails(*out, coef, 1, coef, 0, 0, 1 << 16, 1 << 16);
    }
    return 0;
}

/* sws_scale's SIMD paths read whole vectors, past the last pixel of a row
 * and of the image (valgrind: "invalid read of size 16" after a 48x48x3
 * malloc), so the bytes it sees there must exist and never change: rows are
 * RGB_ALIGN-aligned, RGB_PAD spare bytes follow the last row, and all of it is
 * zeroed once.  Frames only ever write the 3*W pixel bytes of each row, so
 * the padding stays zero and the output bytes cannot depend on what the heap
 * held before (MALLOC_PERTURB_ gave three different files). */
#define RGB_ALIGN 64
#define RGB_PAD 64

static int alloc_rgb(struct encode_ctx *e, struct df_err *err)
{
    size_t row = ((size_t)e->width * 3 + RGB_ALIGN - 1) / RGB_ALIGN * RGB_ALIGN, bytes;
    DF_FAIL_IF(row > INT_MAX || ckd_mul_size(&bytes, row, (size_t)e->height) ||
                   ckd_add_size(&bytes, bytes, RGB_PAD),
               err, DF_E_RANGE, "encode '%s': %dx%d frame is too large", e->final_path,
               e->width, e->height);
    e->rgb_stride = (int)row;
    e->rgb = av_mallocz(bytes);
    DF_FAIL_IF(!e->rgb, err, DF_E_NOMEM, "encode '%s': out of memory", e->final_path);
    return 0;
}

static int open_codec(struct encode_ctx *e, const struct encode_opts *o, struct df_err *err)
{
    const AVCodec *codec = avcodec_find_encoder_by_name(k_codecs[e->codec].encoder);
    enum AVPixelFormat pf = AV_PIX_FMT_NONE;
    DF_TRY(pick_pix_fmt(e, codec, o->pix_fmt, &pf, err));
    e->cc = avcodec_alloc_context3(codec);
    DF_FAIL_IF(!e->cc, err, DF_E_NOMEM, "encode '%s': out of memory", e->final_path);
    AVCodecContext *cc = e->cc;
    cc->width = e->width;
    cc->height = e->height;
    cc->pix_fmt = pf;
    cc->time_base = av_inv_q(e->fps);
    cc->framerate = e->fps;
    cc->sample_aspect_ratio = (AVRational){1, 1};
    cc->flags |= AV_CODEC_FLAG_BITEXACT;
    if (!is_rgb(pf)) {
        cc->color_range = AVCOL_RANGE_MPEG;
        cc->colorspace = AVCOL_SPC_BT709;
        cc->color_primaries = AVCOL_PRI_BT709;
        cc->color_trc = AVCOL_TRC_BT709;
    }
    if (e->oc && (e->oc->oformat->flags & AVFMT_GLOBALHEADER))
        cc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (k_codecs[e->codec].crf_default >= 0) {
        if (o->bitrate > 0) {
            cc->bit_rate = o->bitrate;
        } else {
            char crf[16];
            snprintf(crf, sizeof(crf), "%d", o->crf >= 0 ? o->crf : k_codecs[e->codec].crf_default);
            av_opt_set(cc->priv_data, "crf", crf, 0);
        }
    }
    if (e->codec == CODEC_H264) { /* see encode_x264.h: no AVX-512, deterministic bytes */
        char x264[256];
        encode_x264_params(x264, sizeof(x264));
        if (x264[0])
            av_opt_set(cc->priv_data, "x264-params", x264, 0);
    }
    if (e->codec == CODEC_HEVC) /* x265 prints banners to stderr unless told not to */
        av_opt_set(cc->priv_data, "x265-params", "log-level=error", 0);
    int rc = avcodec_open2(cc, codec, NULL);
    if (rc < 0)
        return av_fail(err, DF_E_INVAL, e, "cannot open the encoder", rc);

    e->frame = av_frame_alloc();
    e->pkt = av_packet_alloc();
    DF_TRY(alloc_rgb(e, err));
    DF_FAIL_IF(!e->frame || !e->pkt, err, DF_E_NOMEM, "encode '%s': out of memory",
               e->final_path);
    e->frame->format = pf;
    e->frame->width = e->width;
    e->frame->height = e->height;
    /* Some encoders (prores_ks) take the colour tags from the frame, not the context. */
    e->frame->color_range = cc->color_range;
    e->frame->colorspace = cc->colorspace;
    e->frame->color_primaries = cc->color_primaries;
    e->frame->color_trc = cc->color_trc;
    rc = av_frame_get_buffer(e->frame, 0);
    if (rc < 0)
        return av_fail(err, DF_E_NOMEM, e, "frame buffer", rc);

    DF_TRY(make_sws(e, AV_PIX_FMT_RGB24, pf, &e->sws, err));
    /* Float frames keep their precision in 10/12-bit outputs (ProRes for the
     * edit) instead of going through bytes. */
    e->deep_f32 = encode_yuv_supported(pf);
    return 0;
}

/* A temporary file from an earlier crash is stale: start clean. */
static int create_temp(struct encode_ctx *e, struct df_err *err)
{
    remove_tree(e->tmp_path);
    if (e->is_seq) {
        if (mkdir(e->tmp_path, 0777) < 0)
            return df_err_errno(err, DF_E_IO, "encode '%s': cannot create '%s'", e->final_path,
                                e->tmp_path);
        return 0;
    }
    int rc = avio_open(&e->oc->pb, e->tmp_path, AVIO_FLAG_WRITE);
    if (rc < 0)
        return av_fail(err, DF_E_IO, e, "cannot create the temporary output", rc);
    return 0;
}

/* mov writes FFV1 under its 'FFV1' sample entry (as `ffmpeg -c:v ffv1 x.mov`
 * does), though its tag table, which avformat_query_codec reads, omits it. */
static int container_holds(const AVOutputFormat *fmt, enum AVCodecID id)
{
    if (id == AV_CODEC_ID_FFV1 && strcmp(fmt->name, "mov") == 0)
        return 1;
    return avformat_query_codec(fmt, id, FF_COMPLIANCE_NORMAL) == 1;
}

static int open_muxer(struct encode_ctx *e, struct df_err *err)
{
    /* The temporary name ends in .part, so the container comes from the final name. */
    const AVOutputFormat *fmt = av_guess_format(NULL, e->final_path, NULL);
    DF_FAIL_IF(!fmt, err, DF_E_INVAL,
               "encode '%s': cannot tell the container from the file name (use .mp4, .mov or "
               ".mkv)", e->final_path);
    const AVCodec *codec = avcodec_find_encoder_by_name(k_codecs[e->codec].encoder);
    DF_FAIL_IF(!container_holds(fmt, codec->id), err, DF_E_INVAL,
               "encode '%s': the %s container cannot hold %s (use .mkv or .mov)", e->final_path,
               fmt->name, k_codecs[e->codec].name);
    int rc = avformat_alloc_output_context2(&e->oc, fmt, NULL, e->tmp_path);
    if (rc < 0)
        return av_fail(err, DF_E_NOMEM, e, "muxer", rc);
    e->oc->flags |= AVFMT_FLAG_BITEXACT;
    return 0;
}

static int add_metadata(struct encode_ctx *e, const struct encode_opts *o)
{
    for (size_t i = 0; i < o->n_meta; i++)
        if (o->meta[i].key && o->meta[i].value &&
            av_dict_set(&e->oc->metadata, o->meta[i].key, o->meta[i].value, 0) < 0)
            return DF_E_NOMEM;
    return av_dict_set(&e->oc->metadata, "ditfarm_version", DITFARM_VERSION, 0) < 0 ? DF_E_NOMEM
                                                                                     : 0;
}

static int write_header(struct encode_ctx *e, const struct encode_opts *o, struct df_err *err)
{
    e->vst = avformat_new_stream(e->oc, NULL);
    DF_FAIL_IF(!e->vst, err, DF_E_NOMEM, "encode '%s': out of memory", e->final_path);
    int rc = avcodec_parameters_from_context(e->vst->codecpar, e->cc);
    if (rc < 0)
        return av_fail(err, DF_E_NOMEM, e, "stream parameters", rc);
    e->vst->time_base = e->cc->time_base;
    e->vst->avg_frame_rate = e->fps;
    e->vst->r_frame_rate = e->fps;
    /* Apple players want HEVC tagged hvc1 (parameter sets in the sample entry). */
    if (e->codec == CODEC_HEVC && (strcmp(e->oc->oformat->name, "mp4") == 0 ||
                                   strcmp(e->oc->oformat->name, "mov") == 0))
        e->vst->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');
    if (o->audio_path)
        DF_TRY(encode_audio_open(o->audio_path, e->oc, &e->audio, err));
    DF_FAIL_IF(add_metadata(e, o) < 0, err, DF_E_NOMEM, "encode '%s': out of memory",
               e->final_path);
    DF_TRY(create_temp(e, err));
    AVDictionary *mux_opts = NULL;
    /* mp4/mov drop free-form tags unless asked; faststart puts the index first
     * so a review player can start before the whole file has arrived. */
    if (strcmp(e->oc->oformat->name, "mp4") == 0 || strcmp(e->oc->oformat->name, "mov") == 0)
        av_dict_set(&mux_opts, "movflags", "+use_metadata_tags+faststart", 0);
    rc = avformat_write_header(e->oc, &mux_opts);
    av_dict_free(&mux_opts);
    if (rc < 0)
        return av_fail(err, DF_E_IO, e, "cannot write the header", rc);
    return 0;
}

static void ctx_free(struct encode_ctx *e)
{
    if (!e)
        return;
    encode_audio_free(e->audio);
    if (e->oc) {
        if (e->oc->pb)
            avio_closep(&e->oc->pb);
        avformat_free_context(e->oc);
    }
    avcodec_free_context(&e->cc);
    sws_freeContext(e->sws);
    av_frame_free(&e->frame);
    av_packet_free(&e->pkt);
    av_free(e->rgb);
    free(e->final_path);
    free(e->tmp_path);
    e->magic = 0;
    free(e);
}

int encode_open(const char *path, int width, int height, const struct encode_opts *opts,
                encode_t *out, struct df_err *err)
{
    *out = NULL;
    DF_TRY(check_opts(path, width, height, opts, err));
    struct encode_ctx *e = calloc(1, sizeof(*e));
    if (!e)
        return df_err_set(err, DF_E_NOMEM, "encode '%s': out of memory", path);
    e->magic = ENCODE_MAGIC;
    e->codec = opts->codec;
    e->width = width;
    e->height = height;
    e->fps = av_make_q(opts->fps_num, opts->fps_den);
    e->is_seq = opts->codec == CODEC_PNG;
    e->final_path = strdup(path);
    e->tmp_path = temp_name(path);
    int rc = DF_E_NOMEM;
    if (!e->final_path || !e->tmp_path) {
        df_err_set(err, rc, "encode '%s': out of memory", path);
        goto fail;
    }
    if (!e->is_seq && (rc = open_muxer(e, err)) < 0)
        goto fail;
    if ((rc = open_codec(e, opts, err)) < 0)
        goto fail;
    if (e->is_seq)
        rc = create_temp(e, err);
    else
        rc = write_header(e, opts, err);
    if (rc < 0)
        goto fail;
    *out = e;
    return 0;
fail:
    encode_abort(e);
    return rc;
}

/* ---- frames --------------------------------------------------------------- */

static int write_png_file(struct encode_ctx *e, const AVPacket *p, struct df_err *err)
{
    char name[4200];
    snprintf(name, sizeof(name), "%s/" ENCODE_PNG_PATTERN, e->tmp_path, (int)e->n_files);
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return df_err_errno(err, DF_E_IO, "encode '%s': create '%s'", e->final_path, name);
    const uint8_t *at = p->data;
    size_t left = (size_t)p->size;
    while (left > 0) {
        ssize_t n = write(fd, at, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int rc = df_err_errno(err, DF_E_IO, "encode '%s': write '%s'", e->final_path, name);
            close(fd);
            return rc;
        }
        at += n;
        left -= (size_t)n;
    }
    if (fsync(fd) < 0 || close(fd) < 0)
        return df_err_errno(err, DF_E_IO, "encode '%s': fsync '%s'", e->final_path, name);
    e->n_files++;
    return 0;
}

/* Send `frame` (NULL flushes) and write every packet the encoder returns. */
static int encode_send(struct encode_ctx *e, AVFrame *frame, struct df_err *err)
{
    int rc = avcodec_send_frame(e->cc, frame);
    if (rc < 0)
        return av_fail(err, DF_E_INTERNAL, e, "encoding failed", rc);
    for (;;) {
        rc = avcodec_receive_packet(e->cc, e->pkt);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
            return 0;
        if (rc < 0)
            return av_fail(err, DF_E_INTERNAL, e, "encoding failed", rc);
        if (e->is_seq) {
            rc = write_png_file(e, e->pkt, err);
            av_packet_unref(e->pkt);
            if (rc < 0)
                return rc;
            continue;
        }
        av_packet_rescale_ts(e->pkt, e->cc->time_base, e->vst->time_base);
        e->pkt->stream_index = e->vst->index;
        rc = av_interleaved_write_frame(e->oc, e->pkt);
        if (rc < 0)
            return av_fail(err, DF_E_IO, e, "write failed", rc);
    }
}

static double video_time(const struct encode_ctx *e)
{
    return (double)e->n_frames * e->fps.den / e->fps.num;
}

/* The encoder frame's planes have alignment padding right of each row and
 * below the last one, which no conversion writes but SIMD code in encoders
 * may load along with the pixels.  Zeroing the whole buffers before each
 * conversion makes every byte an encoder can see a function of the frame
 * alone (one memset of a frame; the x264 case itself is encode_x264.h). */
static void zero_frame(AVFrame *f)
{
    for (int i = 0; i < AV_NUM_DATA_POINTERS && f->buf[i]; i++)
        memset(f->buf[i]->data, 0, f->buf[i]->size);
}

/* Convert one frame (packed RGB24 `rgb`, or float `chw` for deep formats) and encode it. */
static int encode_one(struct encode_ctx *e, const uint8_t *rgb, const float *chw,
                      struct df_err *err)
{
    DF_FAIL_IF(e->failed, err, DF_E_INVAL, "encode '%s': the encoder failed earlier; abort it",
               e->final_path);
    e->failed = 1; /* cleared on success */
    int rc = av_frame_make_writable(e->frame);
    if (rc < 0)
        return av_fail(err, DF_E_NOMEM, e, "frame buffer", rc);
    zero_frame(e->frame);
    if (chw) {
        encode_yuv_from_f32(chw, e->frame);
    } else {
        const uint8_t *src[1] = {rgb};
        const int src_stride[1] = {e->rgb_stride};
        sws_scale(e->sws, src, src_stride, 0, e->height, e->frame->data, e->frame->linesize);
    }
    e->frame->pts = e->n_frames;
    DF_TRY(encode_send(e, e->frame, err));
    e->n_frames++;
    if (e->audio)
        DF_TRY(encode_audio_write_until(e->audio, e->oc, video_time(e), err));
    e->failed = 0;
    return 0;
}

int encode_frame_rgb24(encode_t e, const uint8_t *rgb, struct df_err *err)
{
    assert(e && e->magic == ENCODE_MAGIC);
    /* The caller's rows are tightly packed and unpadded: copy them into the
     * padded buffer sws_scale may over-read. */
    const size_t row = (size_t)e->width * 3;
    for (int y = 0; y < e->height; y++)
        memcpy(e->rgb + (size_t)y * e->rgb_stride, rgb + (size_t)y * row, row);
    return encode_one(e, e->rgb, NULL, err);
}

int encode_frame_f32(encode_t e, const float *chw, struct df_err *err)
{
    assert(e && e->magic == ENCODE_MAGIC);
    const size_t plane = (size_t)e->width * e->height;
    if (e->deep_f32)
        return encode_one(e, NULL, chw, err);
    for (size_t i = 0; i < plane; i++) {
        uint8_t *px = e->rgb + (i / (size_t)e->width) * (size_t)e->rgb_stride +
                      3 * (i % (size_t)e->width);
        for (int c = 0; c < 3; c++) {
            float v = (chw[c * plane + i] + 1.0f) * 127.5f;
            /* !(v > 0) also catches NaN */
            px[c] = !(v > 0.0f) ? 0 : v >= 255.0f ? 255 : (uint8_t)lrintf(v);
        }
    }
    return encode_one(e, e->rgb, NULL, err);
}

/* ---- close ---------------------------------------------------------------- */

static int finish(struct encode_ctx *e, struct encode_result *res, struct df_err *err)
{
    DF_FAIL_IF(e->failed, err, DF_E_INVAL, "encode '%s': the encoder failed earlier; nothing "
               "was written", e->final_path);
    DF_FAIL_IF(e->n_frames == 0, err, DF_E_INVAL, "encode '%s': no frame was encoded",
               e->final_path);
    DF_TRY(encode_send(e, NULL, err));
    if (e->is_seq) {
        DF_TRY(fsync_path(e->tmp_path, O_DIRECTORY, err));
    } else {
        if (e->audio)
            DF_TRY(encode_audio_finish(e->audio, e->oc, video_time(e), err));
        int rc = av_write_trailer(e->oc);
        if (rc < 0)
            return av_fail(err, DF_E_IO, e, "cannot write the trailer", rc);
        rc = avio_closep(&e->oc->pb);
        if (rc < 0)
            return av_fail(err, DF_E_IO, e, "close failed", rc);
        DF_TRY(fsync_path(e->tmp_path, 0, err));
    }
    DF_TRY(publish(e, err));
    if (res) {
        memset(res, 0, sizeof(*res));
        res->frames = e->n_frames;
        res->has_audio = e->audio != NULL;
        res->audio_copied = e->audio ? encode_audio_copied(e->audio) : 0;
        snprintf(res->encoder, sizeof(res->encoder), "%s", k_codecs[e->codec].encoder);
        snprintf(res->container, sizeof(res->container), "%s",
                 e->is_seq ? "png-sequence" : e->oc->oformat->name);
        snprintf(res->pix_fmt, sizeof(res->pix_fmt), "%s", av_get_pix_fmt_name(e->cc->pix_fmt));
    }
    return 0;
}

int encode_close(encode_t e, struct encode_result *res, struct df_err *err)
{
    if (!e)
        return 0;
    assert(e->magic == ENCODE_MAGIC);
    int rc = finish(e, res, err);
    if (rc < 0) {
        encode_abort(e);
        return rc;
    }
    ctx_free(e);
    return 0;
}

void encode_abort(encode_t e)
{
    if (!e)
        return;
    assert(e->magic == ENCODE_MAGIC);
    int created = e->is_seq || (e->oc && e->oc->pb);
    if (e->oc && e->oc->pb)
        avio_closep(&e->oc->pb);
    if (created && e->tmp_path)
        remove_tree(e->tmp_path);
    ctx_free(e);
}
