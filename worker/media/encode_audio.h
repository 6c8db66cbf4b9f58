/*
 * encode_audio.h -- the audio half of encode.c (internal to the encoder): read
 * the shot's audio file, and copy or transcode it (AAC) into the output muxer,
 * cut at the video's end.
 *
 * encode.c calls encode_audio_open() before writing the header (it adds the
 * output stream), encode_audio_write_until(t) after each video frame so the two
 * tracks stay interleaved, and encode_audio_finish(t_end) at close.
 */
#ifndef DF_ENCODE_AUDIO_H
#define DF_ENCODE_AUDIO_H

#include "err.h"

#include <libavformat/avformat.h>

struct encode_audio;

/* Open `path`, pick its first audio stream, decide copy vs AAC and add the
 * output stream to `oc` (before avformat_write_header).  Returns 0 and *out,
 * or DF_E_NOTFOUND (file missing, no audio stream), DF_E_PARSE (not readable
 * audio), DF_E_UNSUPPORTED (no decoder / no AAC encoder), DF_E_NOMEM. */
int encode_audio_open(const char *path, AVFormatContext *oc, struct encode_audio **out,
                      struct df_err *err);

/* Mux audio up to `t_sec` seconds of output time (interleaving).  Returns 0, or
 * DF_E_PARSE (the source is corrupt mid-file), DF_E_IO (muxer write failed),
 * DF_E_INTERNAL. */
int encode_audio_write_until(struct encode_audio *a, AVFormatContext *oc, double t_sec,
                             struct df_err *err);

/* Mux the rest up to `t_end` (the video's length), drop what lies beyond,
 * flush the AAC encoder.  Returns as encode_audio_write_until. */
int encode_audio_finish(struct encode_audio *a, AVFormatContext *oc, double t_end,
                        struct df_err *err);

/* 1 when the track is copied, 0 when encoded to AAC. */
int encode_audio_copied(const struct encode_audio *a);

/* Close the source and free; NULL is fine. */
void encode_audio_free(struct encode_audio *a);

#endif /* DF_ENCODE_AUDIO_H */
