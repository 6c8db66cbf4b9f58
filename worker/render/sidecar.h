/*
 * sidecar.h -- the JSON file written next to each output: what was rendered,
 * how, how long it took, and the output's SHA-256, so that a studio can trace
 * and verify a file without the daemon.
 *
 * The sidecar of "out/s1.mp4" is "out/s1.mp4.json"; of a PNG-sequence
 * directory "out/s1" it is "out/s1.json".  It is written atomically (temporary
 * ".<name>.json.part", fsync, rename), after the output itself.
 *
 *     struct sidecar_info si = {.shot = "s1", .seed = 42, .model = "wan2.1-t2v-1.3b", ...};
 *     if (sidecar_write("out/s1.mp4", &si, &err) < 0) ...
 *
 * JSON (version 1; keys are never renamed, new ones may appear):
 *   sidecar_version 1, ditfarm_version, shot, seed (an exact integer, up to
 *   2^64-1), prompt, text_source ("text encoder ...", "prompt_embeds file",
 *   "stand-in: ..."), model {name, weights_fingerprint}, layout {cfg, ulysses, ring,
 *   world, replanned, planned {cfg, ulysses, ring, world} (when planned)}, steps, sampler, video {width, height, frames, fps ("16/1"),
 *   codec, encoder, container, pix_fmt, audio {source, mode: copy|aac} | null},
 *   cache [{branch, computed, skipped}], cache_plan {policy, tau, tau_source,
 *   cond "CC.C..", uncond "CC.R..", ...} | null, timings_s {phase: seconds},
 *   output {file, bytes, sha256, checksum_of}, started, finished, written
 *   (ISO 8601 UTC; started/finished are null when 0).
 * checksum_of is "file" (check with `sha256sum FILE`) or, for a PNG sequence,
 * "frames in name order" (check with `cat DIR/frame_*.png | sha256sum`).
 */
#ifndef DF_SIDECAR_H
#define DF_SIDECAR_H

#include "encode.h"
#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cJSON;

#define SIDECAR_VERSION 1

/* How many denoiser passes a step cache computed and skipped, per branch
 * ("cond", "uncond", or "cfg" for the CFG cache). */
struct sidecar_cache_stat {
    const char *branch;
    int64_t computed;
    int64_t skipped;
};

/* Wall time of one phase ("load", "text_encode", "denoise", "vae_decode", "encode"). */
struct sidecar_timing {
    const char *phase;
    double seconds;
};

struct sidecar_layout {
    int cfg, ulysses, ring, world; /* parallel degrees; world = cfg * ulysses * ring */
};

/* Everything the sidecar says; strings may be NULL (written as null). */
struct sidecar_info {
    const char *shot;
    uint64_t seed;
    const char *prompt;
    const char *text_source;  /* where the prompt's embeddings came from (render_text.h) */
    const char *model;        /* model name as in the manifest */
    const char *weights_hash; /* weights fingerprint (model_id.h), hex */
    struct sidecar_layout layout;       /* what ran */
    const struct sidecar_layout *planned; /* the controller's plan (job.json), or NULL */
    int replanned;                      /* 1: the world differed from the plan */
    int steps;
    const char *sampler;      /* "unipc", "euler" */
    int width, height;
    int fps_num, fps_den;
    const char *codec;        /* "h264", ... */
    const struct encode_result *encode; /* frames, encoder, container, pix_fmt, audio; may be NULL */
    const char *audio_source; /* the audio file muxed, or NULL */
    const struct sidecar_cache_stat *cache;
    size_t n_cache;
    const struct cJSON *cache_plan; /* the step-cache plan (stepcache_mask_json), or NULL */
    const struct sidecar_timing *timings;
    size_t n_timings;
    time_t started, finished; /* 0: unknown */
};

/* Where the sidecar of `output` goes ("<output>.json", trailing '/' dropped).
 * Returns 0, or DF_E_RANGE when it does not fit in dst_cap. */
int sidecar_path(const char *output, char *dst, size_t dst_cap, struct df_err *err);

/* SHA-256 (hex, 65 bytes with the NUL) and size in bytes of `output`: the file,
 * or the concatenation of a directory's regular files in name order.
 * Returns 0 for a file, 1 for a directory, or DF_E_IO / DF_E_NOTFOUND naming
 * the path. */
int sidecar_checksum(const char *output, char hex[65], uint64_t *bytes, struct df_err *err);

/* Checksum `output` and write its sidecar atomically.  Returns 0, or DF_E_IO
 * (unwritable directory, output missing), DF_E_NOMEM; on failure no sidecar
 * (and no temporary) is left. */
int sidecar_write(const char *output, const struct sidecar_info *info, struct df_err *err);

#endif /* DF_SIDECAR_H */
