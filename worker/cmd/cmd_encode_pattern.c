/*
 * cmd_encode_pattern.c -- `ditfarm-worker encode-test-pattern`: encode the
 * moving test pattern with the real encoder and write its sidecar, so that the
 * integration tests can check outputs with ffprobe.  Hidden helper, not a user
 * command.
 *
 *   ditfarm-worker encode-test-pattern OUT --codec C [--frames N] [--fps F|N/D]
 *       [--size WxH] [--audio FILE] [--crf N] [--bitrate BPS] [--pix-fmt NAME]
 *       [--meta KEY=VALUE]... [--float]
 *
 * Prints one line: "wrote OUT: N frames, CODEC (ENCODER, CONTAINER, PIX_FMT),
 * audio copy|aac|none, BYTES bytes, sha256 HEX".
 */
#include "encode.h"
#include "encode_pattern.h"
#include "sidecar.h"
#include "worker_cmd.h"
#include "worker_exit.h"

#include <libavutil/log.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pattern_args {
    const char *out;
    struct encode_opts opts;
    int frames, width, height, use_float;
    struct encode_meta meta[ENCODE_MAX_META];
};

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "ditfarm-worker encode-test-pattern: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage: ditfarm-worker encode-test-pattern OUT --codec C [--frames N] "
                    "[--fps F|N/D] [--size WxH] [--audio FILE] [--crf N] [--bitrate BPS] "
                    "[--pix-fmt NAME] [--meta KEY=VALUE]... [--float]\n");
    return WORKER_EXIT_USAGE;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* One option with its value; returns 0, or a usage exit code. */
static int parse_opt(struct pattern_args *a, const char *opt, char *val)
{
    long v;
    if (strcmp(opt, "--codec") == 0) {
        if (codec_from_name(val, &a->opts.codec) < 0)
            return usage_error("unknown codec '%s' (known: h264, hevc, prores, ffv1, png)", val);
    } else if (strcmp(opt, "--frames") == 0) {
        if (parse_int(val, 1, 100000, &v) < 0)
            return usage_error("bad --frames '%s'", val);
        a->frames = (int)v;
    } else if (strcmp(opt, "--fps") == 0) {
        int n = 0, d = 1;
        char tail;
        if ((sscanf(val, "%d/%d%c", &n, &d, &tail) != 2 && sscanf(val, "%d%c", &n, &tail) != 1) ||
            n <= 0 || d <= 0)
            return usage_error("bad --fps '%s' (an integer or N/D)", val);
        a->opts.fps_num = n;
        a->opts.fps_den = d;
    } else if (strcmp(opt, "--size") == 0) {
        char tail;
        if (sscanf(val, "%dx%d%c", &a->width, &a->height, &tail) != 2)
            return usage_error("bad --size '%s' (WxH)", val);
    } else if (strcmp(opt, "--audio") == 0) {
        a->opts.audio_path = val;
    } else if (strcmp(opt, "--crf") == 0) {
        if (parse_int(val, 0, 51, &v) < 0)
            return usage_error("bad --crf '%s' (0..51)", val);
        a->opts.crf = (int)v;
    } else if (strcmp(opt, "--bitrate") == 0) {
        if (parse_int(val, 1, 2000000000L, &v) < 0)
            return usage_error("bad --bitrate '%s'", val);
        a->opts.bitrate = v;
    } else if (strcmp(opt, "--pix-fmt") == 0) {
        a->opts.pix_fmt = val;
    } else if (strcmp(opt, "--meta") == 0) {
        char *eq = strchr(val, '=');
        if (!eq || eq == val || a->opts.n_meta == ENCODE_MAX_META)
            return usage_error("bad --meta '%s' (KEY=VALUE)", val);
        *eq = '\0';
        a->meta[a->opts.n_meta++] = (struct encode_meta){val, eq + 1};
    } else {
        return usage_error("unknown option '%s'", opt);
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct pattern_args *a)
{
    int have_codec = 0;
    encode_opts_init(&a->opts, CODEC_H264);
    a->opts.meta = a->meta;
    a->frames = 8;
    a->width = 64;
    a->height = 48;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--float") == 0) {
            a->use_float = 1;
        } else if (strncmp(argv[i], "--", 2) == 0) {
            if (i + 1 >= argc)
                return usage_error("option '%s' needs a value", argv[i]);
            have_codec |= strcmp(argv[i], "--codec") == 0;
            int rc = parse_opt(a, argv[i], argv[i + 1]);
            if (rc)
                return rc;
            i++;
        } else if (!a->out) {
            a->out = argv[i];
        } else {
            return usage_error("unexpected argument '%s'", argv[i]);
        }
    }
    if (!a->out)
        return usage_error("%s", "missing OUT");
    if (!have_codec)
        return usage_error("%s", "missing --codec");
    return 0;
}

static int encode_all(const struct pattern_args *a, struct encode_result *res, struct df_err *err)
{
    encode_t enc = NULL;
    DF_TRY(encode_open(a->out, a->width, a->height, &a->opts, &enc, err));
    size_t n = (size_t)a->width * a->height * 3;
    void *buf = malloc(a->use_float ? n * sizeof(float) : n);
    int rc = buf ? 0 : df_err_set(err, DF_E_NOMEM, "out of memory");
    for (int f = 0; rc == 0 && f < a->frames; f++) {
        if (a->use_float) {
            encode_pattern_f32(buf, a->width, a->height, f);
            rc = encode_frame_f32(enc, buf, err);
        } else {
            encode_pattern_rgb24(buf, a->width, a->height, f);
            rc = encode_frame_rgb24(enc, buf, err);
        }
    }
    free(buf);
    if (rc < 0) {
        encode_abort(enc);
        return rc;
    }
    return encode_close(enc, res, err);
}

int cmd_encode_pattern(int argc, char **argv, struct df_log *log)
{
    struct pattern_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    av_log_set_level(AV_LOG_ERROR); /* a program may set libav's global log level */
    struct df_err err = {0};
    struct encode_result res;
    time_t started = time(NULL);
    if (encode_all(&a, &res, &err) < 0) {
        DF_ERROR(log, "%s", err.msg);
        return WORKER_EXIT_FAILED;
    }
    struct sidecar_info si = {
        .shot = "test-pattern", .seed = 0, .model = "none", .steps = 0,
        .layout = {1, 1, 1, 1}, .width = a.width, .height = a.height,
        .fps_num = a.opts.fps_num, .fps_den = a.opts.fps_den,
        .codec = codec_name(a.opts.codec), .encode = &res, .audio_source = a.opts.audio_path,
        .started = started, .finished = time(NULL),
    };
    if (sidecar_write(a.out, &si, &err) < 0) {
        DF_ERROR(log, "%s", err.msg);
        return WORKER_EXIT_FAILED;
    }
    char hex[65];
    uint64_t bytes = 0;
    if (sidecar_checksum(a.out, hex, &bytes, &err) < 0) {
        DF_ERROR(log, "%s", err.msg);
        return WORKER_EXIT_FAILED;
    }
    printf("wrote %s: %" PRId64 " frames, %s (%s, %s, %s), audio %s, %" PRIu64 " bytes, "
           "sha256 %s\n",
           a.out, res.frames, codec_name(a.opts.codec), res.encoder, res.container, res.pix_fmt,
           !res.has_audio ? "none" : res.audio_copied ? "copy" : "aac", bytes, hex);
    return WORKER_EXIT_DONE;
}
