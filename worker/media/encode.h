/*
 * encode.h -- write rendered frames to a video file (or a PNG sequence) with
 * libavcodec/libavformat/libswscale, with the shot's audio muxed in.
 *
 * An encoder is opened on the final output path, fed frames one at a time, and
 * closed.  Everything is written under a temporary name next to the output
 * (".<name>.part", a file or, for PNG, a directory); encode_close() finishes the
 * file, fsyncs it and renames it to the final name, so a reader never sees a
 * partial output under the final name.  Any failure (or encode_abort) removes
 * the temporary file.
 *
 *     struct encode_opts o;
 *     encode_opts_init(&o, CODEC_H264);
 *     o.fps_num = 16;
 *     o.audio_path = "/shots/s1.wav";                 // or NULL
 *     struct encode_meta meta[] = {{"prompt", p}, {"seed", "42"}, {"model", "wan2.1-1.3b"}};
 *     o.meta = meta; o.n_meta = 3;
 *     encode_t enc;
 *     if (encode_open("/out/s1.mp4", 832, 480, &o, &enc, &err) < 0) ...
 *     for (f = 0; f < n; f++)
 *         if (encode_frame_f32(enc, vae_out + f * 3 * h * w, &err) < 0) goto fail;
 *     struct encode_result res;
 *     if (encode_close(enc, &res, &err) < 0) ...     // enc is freed either way
 *   fail:
 *     encode_abort(enc);                             // removes the .part file
 *
 * Codecs and containers (the container follows the output's extension):
 *   h264   libx264     .mp4 .mov .mkv   default pix_fmt yuv420p,     crf 18
 *   hevc   libx265     .mp4 .mov .mkv   default pix_fmt yuv420p,     crf 20 (tagged hvc1 in mp4/mov)
 *   prores prores_ks   .mov .mkv        default pix_fmt yuv422p10le  (profile: HQ for 4:2:2, 4444 for 4:4:4)
 *   ffv1   ffv1        .mkv .mov        default pix_fmt bgr0         (lossless RGB: exact round trip)
 *   png    png         a directory      default pix_fmt rgb24        (lossless), files frame_00000.png ...
 * crf and bitrate apply to h264/hevc only (they are ignored by the others);
 * bitrate > 0 selects average-bitrate mode and then crf must be -1.  YUV
 * outputs are tagged BT.709, limited range; RGB converts with the BT.709 matrix.
 *
 * Audio (when opts.audio_path is set): the source's first audio stream is
 * copied when the container can hold its codec (PCM into .mkv/.mov, AAC into
 * anything), else decoded, resampled (mono stays mono, more channels are mixed
 * to stereo) and encoded to AAC.  It is cut to the video's length, like
 * ffmpeg's -shortest (a copied track ends on the packet that crosses the end);
 * a shorter track is not padded.  A PNG sequence cannot carry audio.
 *
 * Metadata: opts.meta key/values go into the container's tags (mp4/mov with
 * use_metadata_tags, so ffprobe shows them as format tags), plus
 * "ditfarm_version".  PNG frames carry none: the sidecar JSON has them.
 *
 * Output is bit-exact for the same input (bitexact flags: no random UIDs, no
 * library version strings), so re-rendering a shot gives the same checksum.
 * libav* log through av_log, which prints to stderr: a program that wants quiet
 * calls av_log_set_level() itself (this module never touches global state).
 */
#ifndef DF_ENCODE_H
#define DF_ENCODE_H

#include "err.h"
#include "manifest.h" /* enum codec */

#include <stddef.h>
#include <stdint.h>

/* File name pattern of the frames inside a PNG-sequence output directory. */
#define ENCODE_PNG_PATTERN "frame_%05d.png"
/* Most metadata tags per output. */
#define ENCODE_MAX_META 32

struct encode_meta {
    const char *key;   /* tag name: "prompt", "seed", "model", ... */
    const char *value; /* UTF-8 text */
};

struct encode_opts {
    enum codec codec;              /* h264, hevc, prores, ffv1, png */
    int crf;                       /* -1: the codec default (h264 18, hevc 20) */
    int64_t bitrate;               /* bits/s (average-bitrate mode); 0: use crf */
    const char *pix_fmt;           /* FFmpeg name; NULL or "": codec default */
    int fps_num, fps_den;          /* frame rate as a fraction, e.g. 16/1, 24000/1001 */
    const char *audio_path;        /* audio track to mux; NULL for none */
    const struct encode_meta *meta; /* n_meta container tags (copied at open) */
    size_t n_meta;
};

/* What encode_close() did, for logs and the sidecar. */
struct encode_result {
    int64_t frames;        /* video frames in the output */
    int has_audio;         /* 1 when an audio track was muxed */
    int audio_copied;      /* 1: copied as is; 0: encoded to AAC (meaningful with has_audio) */
    char encoder[32];      /* "libx264", ... */
    char container[32];    /* libavformat muxer name ("mp4", "matroska"), or "png-sequence" */
    char pix_fmt[32];      /* pixel format actually written */
};

typedef struct encode_ctx *encode_t;

/* Defaults for `codec`: crf -1, bitrate 0, pix_fmt NULL, fps 16/1 (Wan2.1),
 * no audio, no metadata. */
void encode_opts_init(struct encode_opts *opts, enum codec codec);

/* The FFmpeg encoder used for a codec ("libx264"); "?" when out of range. */
const char *encode_encoder_name(enum codec codec);
/* The default pixel format of a codec ("yuv420p"); "?" when out of range. */
const char *encode_default_pix_fmt(enum codec codec);
/* 1 when this libavcodec has the codec's encoder, else 0. */
int encode_codec_available(enum codec codec);

/* Open `path` as a shot's audio track and close it again: what encode_open
 * would say about it (DF_E_NOTFOUND, DF_E_PARSE: not readable audio, no audio
 * stream), asked before the first denoise step instead of after the last. */
int encode_audio_check(const char *path, struct df_err *err);

/* ---- lifetime ------------------------------------------------------------- */

/* Check the options, open the encoder (and the audio source) and create the
 * temporary output next to `path`.  For png, `path` names the directory to
 * create.  Returns 0 and *out, or:
 *   DF_E_INVAL       bad size, fps, pixel format, crf/bitrate, unknown container
 *                    or codec value, codec the container cannot hold, audio with png
 *   DF_E_UNSUPPORTED the codec's encoder is missing from this libavcodec (the
 *                    message lists the codecs that are available)
 *   DF_E_IO          the temporary output cannot be created (unwritable path)
 *   DF_E_NOTFOUND / DF_E_PARSE  the audio file is missing / not readable audio
 * Nothing is left on disk on failure. */
int encode_open(const char *path, int width, int height, const struct encode_opts *opts,
                encode_t *out, struct df_err *err);

/* Encode one frame of packed RGB, [H, W, 3] bytes, row stride 3*W.  Returns 0,
 * or DF_E_IO / DF_E_INTERNAL (encoder or write failure).  After a failure the
 * encoder only accepts encode_abort() or encode_close() (which then fails). */
int encode_frame_rgb24(encode_t enc, const uint8_t *rgb, struct df_err *err);

/* Encode one frame of planar float RGB, [3, H, W] in [-1, 1] as the VAE
 * outputs it: v -> round((v + 1) * 127.5) clamped to [0, 255] (NaN -> 0).
 * For planar YUV deeper than 8 bits (ProRes's yuv422p10le) the floats are
 * converted straight to 10/12-bit YUV (BT.709, limited range) instead, so the
 * precision of the VAE output reaches the file.  Returns as encode_frame_rgb24. */
int encode_frame_f32(encode_t enc, const float *chw, struct df_err *err);

/* Flush the encoder, finish the audio (cut to the video length), write the
 * trailer, fsync, and rename the temporary output to its final name.  Frees
 * `enc` in every case (NULL is a no-op returning 0).  Writes *res (may be NULL)
 * on success.  Returns 0, or DF_E_INVAL (no frame was encoded), DF_E_IO,
 * DF_E_PARSE (audio unreadable mid-file), DF_E_INTERNAL; on failure the
 * temporary output is removed and nothing appears under the final name. */
int encode_close(encode_t enc, struct encode_result *res, struct df_err *err);

/* Drop everything: close, remove the temporary output, free.  NULL is fine. */
void encode_abort(encode_t enc);

#endif /* DF_ENCODE_H */
