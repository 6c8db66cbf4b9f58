/*
 * encode_audio.c -- mux the shot's audio track: copy it when the container can
 * hold its codec, else decode -> resample -> AAC (see encode_audio.h).
 *
 * Time: output audio starts at 0 whatever the source's start time.  Video time
 * t (seconds) bounds what is muxed: copied packets whose start lies before t,
 * transcoded samples up to round(t * rate).  Only the final call may send the
 * AAC encoder a short frame, since a short frame must be the last one.
 */
#include "encode.h"
#include "encode_audio.h"

#include <libavcodec/avcodec.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>

struct encode_audio {
    const char *path;       /* source path (borrowed from the caller for messages) */
    AVFormatContext *ic;    /* source demuxer */
    AVStream *ist;          /* source audio stream */
    AVStream *ost;          /* output stream in the caller's muxer */
    int copy;               /* 1: packets copied; 0: transcoded to AAC */
    int64_t start;          /* source start time in ist->time_base */
    AVPacket *pkt;          /* read buffer */
    int have_pending;       /* copy: pkt holds a packet past the last limit */
    int in_eof;             /* source read to the end (and decoder drained) */
    AVCodecContext *dec;    /* transcode: source decoder */
    AVCodecContext *enc;    /* transcode: AAC encoder */
    SwrContext *swr;        /* transcode: to the encoder's format/rate/layout */
    AVAudioFifo *fifo;      /* transcode: resampled samples not yet encoded */
    AVFrame *frame;         /* transcode: decoded / to-encode frame */
    int64_t out_samples;    /* transcode: samples sent to the encoder = next pts */
};

static int av_fail(struct df_err *err, int code, const char *path, const char *what, int averr)
{
    char buf[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(averr, buf, sizeof(buf));
    return df_err_set(err, code, "audio '%s': %s: %s", path, what, buf);
}

/* ---- open ----------------------------------------------------------------- */

static int open_source(struct encode_audio *a, const char *path, struct df_err *err)
{
    int rc = avformat_open_input(&a->ic, path, NULL, NULL);
    if (rc == AVERROR(ENOENT))
        return av_fail(err, DF_E_NOTFOUND, path, "cannot open", rc);
    if (rc == AVERROR(EACCES) || rc == AVERROR(EISDIR) || rc == AVERROR(EIO))
        return av_fail(err, DF_E_IO, path, "cannot open", rc);
    /* Anything else is the content: demuxers answer garbage with INVALIDDATA,
     * EINVAL or ENOSYS depending on what the probe took it for. */
    if (rc < 0)
        return av_fail(err, DF_E_PARSE, path, "not a readable audio file", rc);
    rc = avformat_find_stream_info(a->ic, NULL);
    if (rc < 0)
        return av_fail(err, DF_E_PARSE, path, "not a readable audio file", rc);
    int idx = av_find_best_stream(a->ic, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    if (idx < 0)
        return df_err_set(err, DF_E_NOTFOUND, "audio '%s': no audio stream in the file", path);
    a->ist = a->ic->streams[idx];
    const AVCodecParameters *par = a->ist->codecpar;
    if (par->sample_rate <= 0 || par->ch_layout.nb_channels <= 0)
        return df_err_set(err, DF_E_PARSE,
                          "audio '%s': not a readable audio file: stream %d has no sample "
                          "rate or channel count",
                          path, idx);
    a->start = a->ist->start_time == AV_NOPTS_VALUE ? 0 : a->ist->start_time;
    return 0;
}

int encode_audio_check(const char *path, struct df_err *err)
{
    struct encode_audio a = {0};
    int rc = open_source(&a, path, err);
    avformat_close_input(&a.ic);
    return rc;
}

static int open_copy(struct encode_audio *a, struct df_err *err)
{
    int rc = avcodec_parameters_copy(a->ost->codecpar, a->ist->codecpar);
    if (rc < 0)
        return av_fail(err, DF_E_NOMEM, a->path, "copy stream parameters", rc);
    a->ost->codecpar->codec_tag = 0; /* let the output container choose its own tag */
    a->ost->time_base = a->ist->time_base;
    return 0;
}

/* AAC's rates; a source at another rate is resampled to 48 kHz. */
static int aac_rate(const AVCodec *aac, int rate)
{
    for (const int *r = aac->supported_samplerates; r && *r; r++)
        if (*r == rate)
            return rate;
    return 48000;
}

static int open_transcode(struct encode_audio *a, AVFormatContext *oc, struct df_err *err)
{
    const AVCodecParameters *par = a->ist->codecpar;
    const AVCodec *dcodec = avcodec_find_decoder(par->codec_id);
    if (!dcodec)
        return df_err_set(err, DF_E_UNSUPPORTED, "audio '%s': no decoder for codec '%s'", a->path,
                          avcodec_get_name(par->codec_id));
    const AVCodec *ecodec = avcodec_find_encoder(AV_CODEC_ID_AAC);
    if (!ecodec)
        return df_err_set(err, DF_E_UNSUPPORTED, "audio '%s': this libavcodec has no AAC encoder",
                          a->path);
    a->dec = avcodec_alloc_context3(dcodec);
    a->enc = avcodec_alloc_context3(ecodec);
    a->frame = av_frame_alloc();
    if (!a->dec || !a->enc || !a->frame)
        return df_err_set(err, DF_E_NOMEM, "audio '%s': out of memory", a->path);
    int rc = avcodec_parameters_to_context(a->dec, par);
    if (rc >= 0) {
        a->dec->pkt_timebase = a->ist->time_base;
        rc = avcodec_open2(a->dec, dcodec, NULL);
    }
    if (rc < 0)
        return av_fail(err, DF_E_PARSE, a->path, "cannot open the decoder", rc);

    AVChannelLayout in_layout = {0};
    if (a->dec->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
        av_channel_layout_default(&in_layout, a->dec->ch_layout.nb_channels);
    else
        av_channel_layout_copy(&in_layout, &a->dec->ch_layout);
    /* Mono stays mono; anything wider is mixed to stereo (the review/edit norm). */
    AVChannelLayout out_layout = in_layout.nb_channels == 1 ? (AVChannelLayout)AV_CHANNEL_LAYOUT_MONO
                                                            : (AVChannelLayout)AV_CHANNEL_LAYOUT_STEREO;
    a->enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
    a->enc->sample_rate = aac_rate(ecodec, a->dec->sample_rate);
    av_channel_layout_copy(&a->enc->ch_layout, &out_layout);
    a->enc->bit_rate = out_layout.nb_channels == 1 ? 128000 : 192000;
    a->enc->time_base = (AVRational){1, a->enc->sample_rate};
    a->enc->flags |= AV_CODEC_FLAG_BITEXACT;
    if (oc->oformat->flags & AVFMT_GLOBALHEADER)
        a->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    rc = avcodec_open2(a->enc, ecodec, NULL);
    if (rc < 0) {
        av_channel_layout_uninit(&in_layout);
        return av_fail(err, DF_E_INTERNAL, a->path, "cannot open the AAC encoder", rc);
    }
    rc = swr_alloc_set_opts2(&a->swr, &a->enc->ch_layout, a->enc->sample_fmt, a->enc->sample_rate,
                             &in_layout, a->dec->sample_fmt, a->dec->sample_rate, 0, NULL);
    av_channel_layout_uninit(&in_layout);
    if (rc >= 0)
        rc = swr_init(a->swr);
    if (rc < 0)
        return av_fail(err, DF_E_INTERNAL, a->path, "cannot set up the resampler", rc);
    a->fifo = av_audio_fifo_alloc(a->enc->sample_fmt, a->enc->ch_layout.nb_channels,
                                  a->enc->frame_size > 0 ? a->enc->frame_size : 1024);
    if (!a->fifo)
        return df_err_set(err, DF_E_NOMEM, "audio '%s': out of memory", a->path);
    rc = avcodec_parameters_from_context(a->ost->codecpar, a->enc);
    if (rc < 0)
        return av_fail(err, DF_E_NOMEM, a->path, "set stream parameters", rc);
    a->ost->time_base = a->enc->time_base;
    return 0;
}

int encode_audio_open(const char *path, AVFormatContext *oc, struct encode_audio **out,
                      struct df_err *err)
{
    *out = NULL;
    struct encode_audio *a = calloc(1, sizeof(*a));
    if (!a)
        return df_err_set(err, DF_E_NOMEM, "audio '%s': out of memory", path);
    a->path = path;
    int rc = open_source(a, path, err);
    if (rc < 0)
        goto fail;
    a->pkt = av_packet_alloc();
    a->ost = avformat_new_stream(oc, NULL);
    if (!a->pkt || !a->ost) {
        rc = df_err_set(err, DF_E_NOMEM, "audio '%s': out of memory", path);
        goto fail;
    }
    /* Copy only what the container stores natively; FF_COMPLIANCE_NORMAL keeps
     * out the codecs a muxer takes only under -strict experimental. */
    a->copy = avformat_query_codec(oc->oformat, a->ist->codecpar->codec_id,
                                   FF_COMPLIANCE_NORMAL) == 1;
    rc = a->copy ? open_copy(a, err) : open_transcode(a, oc, err);
    if (rc < 0)
        goto fail;
    *out = a;
    return 0;
fail:
    encode_audio_free(a); /* the stream stays in oc; the caller drops oc on failure */
    return rc;
}

int encode_audio_copied(const struct encode_audio *a) { return a->copy; }

void encode_audio_free(struct encode_audio *a)
{
    if (!a)
        return;
    avformat_close_input(&a->ic);
    av_packet_free(&a->pkt);
    avcodec_free_context(&a->dec);
    avcodec_free_context(&a->enc);
    swr_free(&a->swr);
    if (a->fifo)
        av_audio_fifo_free(a->fifo);
    av_frame_free(&a->frame);
    free(a);
}

/* ---- copy ----------------------------------------------------------------- */

static double packet_time(const struct encode_audio *a, const AVPacket *p)
{
    int64_t ts = p->pts != AV_NOPTS_VALUE ? p->pts : p->dts;
    if (ts == AV_NOPTS_VALUE)
        return 0.0;
    return (double)(ts - a->start) * av_q2d(a->ist->time_base);
}

/* Read the next packet of our stream into a->pkt; 1 when one was read, 0 at EOF. */
static int read_packet(struct encode_audio *a, struct df_err *err)
{
    for (;;) {
        int rc = av_read_frame(a->ic, a->pkt);
        if (rc == AVERROR_EOF)
            return 0;
        if (rc < 0)
            return av_fail(err, DF_E_PARSE, a->path, "read failed", rc);
        if (a->pkt->stream_index == a->ist->index)
            return 1;
        av_packet_unref(a->pkt);
    }
}

static int copy_until(struct encode_audio *a, AVFormatContext *oc, double t, struct df_err *err)
{
    while (!a->in_eof) {
        if (!a->have_pending) {
            int got = read_packet(a, err);
            if (got < 0)
                return got;
            if (!got) {
                a->in_eof = 1;
                break;
            }
            a->have_pending = 1;
        }
        if (packet_time(a, a->pkt) >= t)
            return 0; /* keep it for a later, larger t */
        if (a->pkt->pts != AV_NOPTS_VALUE)
            a->pkt->pts -= a->start;
        if (a->pkt->dts != AV_NOPTS_VALUE)
            a->pkt->dts -= a->start;
        av_packet_rescale_ts(a->pkt, a->ist->time_base, a->ost->time_base);
        a->pkt->stream_index = a->ost->index;
        a->pkt->pos = -1;
        a->have_pending = 0;
        int rc = av_interleaved_write_frame(oc, a->pkt); /* takes the packet's reference */
        if (rc < 0)
            return av_fail(err, DF_E_IO, a->path, "muxing the copied track failed", rc);
    }
    return 0;
}

/* ---- transcode ------------------------------------------------------------ */

/* Resample `in` (NULL drains the resampler) into the FIFO. */
static int resample_into_fifo(struct encode_audio *a, const AVFrame *in, struct df_err *err)
{
    int n_in = in ? in->nb_samples : 0;
    int cap = swr_get_out_samples(a->swr, n_in);
    if (cap <= 0)
        return 0;
    uint8_t **buf = NULL;
    int rc = av_samples_alloc_array_and_samples(&buf, NULL, a->enc->ch_layout.nb_channels, cap,
                                                a->enc->sample_fmt, 0);
    if (rc < 0)
        return df_err_set(err, DF_E_NOMEM, "audio '%s': out of memory", a->path);
    int got = swr_convert(a->swr, buf, cap, in ? (const uint8_t **)in->extended_data : NULL, n_in);
    if (got < 0)
        rc = av_fail(err, DF_E_INTERNAL, a->path, "resampling failed", got);
    else if (got > 0 && av_audio_fifo_write(a->fifo, (void **)buf, got) < got)
        rc = df_err_set(err, DF_E_NOMEM, "audio '%s': out of memory", a->path);
    else
        rc = 0;
    av_freep(&buf[0]);
    av_freep(&buf);
    return rc;
}

/* Take every decoded frame the decoder has ready into the FIFO. */
static int drain_decoder(struct encode_audio *a, struct df_err *err)
{
    for (;;) {
        int rc = avcodec_receive_frame(a->dec, a->frame);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
            return 0;
        if (rc < 0)
            return av_fail(err, DF_E_PARSE, a->path, "decoding failed", rc);
        rc = resample_into_fifo(a, a->frame, err);
        av_frame_unref(a->frame);
        if (rc < 0)
            return rc;
    }
}

/* Decode until the FIFO holds `need` samples or the source ends. */
static int fill_fifo(struct encode_audio *a, int need, struct df_err *err)
{
    while (!a->in_eof && av_audio_fifo_size(a->fifo) < need) {
        int got = read_packet(a, err);
        if (got < 0)
            return got;
        int rc = avcodec_send_packet(a->dec, got ? a->pkt : NULL);
        double at = got ? packet_time(a, a->pkt) : 0.0;
        av_packet_unref(a->pkt);
        if (rc < 0 && rc != AVERROR_EOF) {
            char what[64];
            snprintf(what, sizeof(what), "decoding failed at %.3f s", at);
            return av_fail(err, DF_E_PARSE, a->path, what, rc);
        }
        DF_TRY(drain_decoder(a, err));
        if (!got) {
            DF_TRY(resample_into_fifo(a, NULL, err));
            a->in_eof = 1;
        }
    }
    return 0;
}

/* Send `frame` (NULL flushes) to the AAC encoder and mux what comes out. */
static int encode_and_mux(struct encode_audio *a, AVFormatContext *oc, AVFrame *frame,
                          struct df_err *err)
{
    int rc = avcodec_send_frame(a->enc, frame);
    if (rc < 0)
        return av_fail(err, DF_E_INTERNAL, a->path, "AAC encoding failed", rc);
    for (;;) {
        rc = avcodec_receive_packet(a->enc, a->pkt);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
            return 0;
        if (rc < 0)
            return av_fail(err, DF_E_INTERNAL, a->path, "AAC encoding failed", rc);
        av_packet_rescale_ts(a->pkt, a->enc->time_base, a->ost->time_base);
        a->pkt->stream_index = a->ost->index;
        rc = av_interleaved_write_frame(oc, a->pkt);
        if (rc < 0)
            return av_fail(err, DF_E_IO, a->path, "muxing the AAC track failed", rc);
    }
}

static int transcode_until(struct encode_audio *a, AVFormatContext *oc, double t, int final,
                           struct df_err *err)
{
    const int frame_size = a->enc->frame_size > 0 ? a->enc->frame_size : 1024;
    const int64_t limit = llround(t * a->enc->sample_rate);
    for (;;) {
        int64_t left = limit - a->out_samples;
        if (left <= 0)
            break;
        int want = left < frame_size ? (int)left : frame_size;
        DF_TRY(fill_fifo(a, want, err));
        int have = av_audio_fifo_size(a->fifo);
        int n = have < want ? have : want;
        if (n == 0 || (n < frame_size && !final))
            break; /* a short frame must be the last one: wait for the final call */
        AVFrame *f = a->frame;
        f->nb_samples = n;
        f->format = a->enc->sample_fmt;
        f->sample_rate = a->enc->sample_rate;
        av_channel_layout_copy(&f->ch_layout, &a->enc->ch_layout);
        int rc = av_frame_get_buffer(f, 0);
        if (rc < 0)
            return df_err_set(err, DF_E_NOMEM, "audio '%s': out of memory", a->path);
        av_audio_fifo_read(a->fifo, (void **)f->data, n);
        f->pts = a->out_samples;
        a->out_samples += n;
        rc = encode_and_mux(a, oc, f, err);
        av_frame_unref(f);
        if (rc < 0)
            return rc;
        if (n < frame_size)
            break;
    }
    return final ? encode_and_mux(a, oc, NULL, err) : 0;
}

/* ---- front ---------------------------------------------------------------- */

int encode_audio_write_until(struct encode_audio *a, AVFormatContext *oc, double t_sec,
                             struct df_err *err)
{
    return a->copy ? copy_until(a, oc, t_sec, err) : transcode_until(a, oc, t_sec, 0, err);
}

int encode_audio_finish(struct encode_audio *a, AVFormatContext *oc, double t_end,
                        struct df_err *err)
{
    return a->copy ? copy_until(a, oc, t_end, err) : transcode_until(a, oc, t_end, 1, err);
}
