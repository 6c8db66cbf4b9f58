/*
 * cmd_ckpt.c -- `ditfarm ckpt`: look at checkpoint files.
 *
 *   ditfarm ckpt inspect FILE...   header, layout, sections, sizes, ratios,
 *                                  validity (every payload decoded); exit 1
 *                                  if any file is invalid, with the reason
 *   ditfarm ckpt list DIR [--shot ID]
 *                                  every checkpoint and temp file, newest step
 *                                  first per shot, valid or why not
 *   ditfarm ckpt synth DIR --shot ID --step N [--mb M] [--keep K]
 *                      [--throttle-ms MS]
 *                                  write a synthetic checkpoint of about M MB
 *                                  through the real commit path: measures a
 *                                  directory's checkpoint speed, and lets
 *                                  tests/integration/ckpt_kill9.sh kill a
 *                                  writer mid-write (--throttle-ms slows each
 *                                  64 KiB write)
 */
#include "ckpt.h"
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int usage(FILE *out)
{
    fprintf(out, "usage: ditfarm ckpt inspect [--max-bytes N] FILE...\n"
                 "       ditfarm ckpt list DIR [--shot ID]\n"
                 "       ditfarm ckpt synth DIR --shot ID --step N [--total N] [--mb M] "
                 "[--keep K] [--throttle-ms MS]\n");
    return out == stdout ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

static void print_extents(char *dst, size_t cap, const struct ckpt_section *s)
{
    size_t at = (size_t)snprintf(dst, cap, "[");
    for (int d = 0; d < s->ndims && at < cap; d++)
        at += (size_t)snprintf(dst + at, cap - at, "%s%" PRIu64, d ? "," : "", s->extents[d]);
    if (at < cap)
        snprintf(dst + at, cap - at, "]");
}

/* Small scalar sections show their values. */
static void print_value(const ckpt_reader_t *r, const struct ckpt_section *s)
{
    if (s->kind == CKPT_KIND_I64 && s->extents[0] <= 4) {
        int64_t v[4];
        if (ckpt_get_i64s(r, s->name, v, (size_t)s->extents[0], NULL) == 0)
            for (uint64_t i = 0; i < s->extents[0]; i++)
                printf(" %" PRId64, v[i]);
    } else if (s->kind == CKPT_KIND_F64 && s->extents[0] <= 4) {
        double v[4];
        if (ckpt_get_f64s(r, s->name, v, (size_t)s->extents[0], NULL) == 0)
            for (uint64_t i = 0; i < s->extents[0]; i++)
                printf(" %.17g", v[i]);
    }
}

static double ratio(uint64_t raw, uint64_t stored)
{
    return stored ? (double)raw / (double)stored : 1.0;
}

static void print_header(const char *path, const ckpt_reader_t *r)
{
    const struct ckpt_meta *m = ckpt_reader_meta(r);
    char when[64] = "?";
    time_t t = (time_t)m->created_unix;
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    uint64_t raw = 0, stored = 0;
    for (unsigned i = 0; i < ckpt_section_count(r); i++) {
        raw += ckpt_section_at(r, i)->raw_size;
        stored += ckpt_section_at(r, i)->stored_size;
    }
    printf("%s: valid\n", path);
    printf("  format    version %u, flags 0x%" PRIx32 "%s\n", CKPT_FORMAT_VERSION, m->flags,
           m->flags & CKPT_FLAG_ON_SIGNAL ? " (written on signal)" : "");
    printf("  shot      %s (shot hash %016" PRIx64 ", weights hash %016" PRIx64 ")\n", m->shot_id,
           m->shot_hash, m->weights_hash);
    printf("  step      %" PRId64 " of %" PRId64 ", seed %" PRIu64 "\n", m->step, m->total_steps,
           m->seed);
    printf("  created   %s\n", when);
    printf("  layout    cfg %" PRIu32 " x ulysses %" PRIu32 " x ring %" PRIu32 " = world %" PRIu32
           " (tensors are global: any layout may resume)\n",
           m->layout_cfg, m->layout_ulysses, m->layout_ring, m->layout_world);
    printf("  size      %" PRIu64 " bytes on disk, %" PRIu64 " payload bytes raw, %" PRIu64
           " stored, ratio %.3f\n",
           ckpt_reader_file_size(r), raw, stored, ratio(raw, stored));
    printf("  sections  %u\n", ckpt_section_count(r));
    printf("    %-24s %-5s %-20s %-12s %12s %12s %7s\n", "name", "kind", "extents", "encoding",
           "raw", "stored", "ratio");
    for (unsigned i = 0; i < ckpt_section_count(r); i++) {
        const struct ckpt_section *s = ckpt_section_at(r, i);
        char ext[128];
        print_extents(ext, sizeof(ext), s);
        printf("    %-24s %-5s %-20s %-12s %12" PRIu64 " %12" PRIu64 " %7.3f", s->name,
               ckpt_kind_name(s->kind), ext, ckpt_encoding_name(s->encoding), s->raw_size,
               s->stored_size, ratio(s->raw_size, s->stored_size));
        print_value(r, s);
        printf("\n");
    }
}

static int do_inspect(int argc, char **argv)
{
    /* Decoded sizes are bounded before decoding (docs/checkpoint.md); a shot
     * whose state exceeds the default needs the bound raised here. */
    uint64_t max_raw = CKPT_MAX_RAW_DEFAULT;
    static const struct option opts[] = {{"max-bytes", required_argument, NULL, 'm'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "m:", opts, NULL)) != -1) {
        char *end;
        if (c != 'm')
            return usage(stderr);
        errno = 0;
        unsigned long long v = strtoull(optarg, &end, 10);
        if (errno || *end || !*optarg || v == 0 || optarg[0] == '-')
            return cli_usage_error("ckpt", "--max-bytes needs a positive number of bytes, "
                                           "not '%s'", optarg);
        max_raw = v;
    }
    if (optind >= argc)
        return cli_usage_error("ckpt", "inspect needs at least one FILE");
    int rc = CLI_EXIT_OK;
    for (int i = optind; i < argc; i++) {
        struct df_err err = {0};
        ckpt_reader_t *r;
        int orc = ckpt_open_max(argv[i], max_raw, &r, &err);
        if (orc < 0 || ckpt_verify_payloads(r, &err) < 0) {
            /* ckpt_open's messages already start with the path. */
            const char *hint = orc == DF_E_RANGE ? "; --max-bytes N raises the bound" : "";
            if (strncmp(err.msg, argv[i], strlen(argv[i])) == 0)
                printf("%s (invalid%s)\n", err.msg, hint);
            else
                printf("%s: %s (invalid%s)\n", argv[i], err.msg, hint);
            rc = CLI_EXIT_FAIL;
        } else {
            print_header(argv[i], r);
        }
        ckpt_close(r);
    }
    return rc;
}

static int do_list(int argc, char **argv)
{
    const char *shot = NULL;
    static const struct option opts[] = {{"shot", required_argument, NULL, 's'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
        if (c != 's')
            return usage(stderr);
        shot = optarg;
    }
    if (optind != argc - 1)
        return cli_usage_error("ckpt", "list needs exactly one DIR");
    const char *dir = argv[optind];
    struct df_err err = {0};
    struct ckpt_dir_entry *v;
    size_t n;
    if (ckpt_dir_list(dir, shot, &v, &n, &err) < 0) {
        fprintf(stderr, "ditfarm ckpt list: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i].type == CKPT_NAME_TEMP) {
            printf("%-40s temp     leftover of an interrupted write (ignored; the next commit "
                   "of shot '%s' removes it)\n",
                   v[i].name, v[i].shot_id);
            continue;
        }
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, v[i].name);
        ckpt_reader_t *r;
        df_err_clear(&err);
        /* list decodes nothing, so no decoded-size bound: a big shot's file
         * is valid here; inspect and resume bound what they decode */
        if (ckpt_open_max(path, UINT64_MAX, &r, &err) < 0) {
            const char *why = err.msg;
            size_t pl = strlen(path);
            if (strncmp(why, path, pl) == 0 && strncmp(why + pl, ": ", 2) == 0)
                why += pl + 2;
            printf("%-40s invalid  %s\n", v[i].name, why);
            continue;
        }
        const struct ckpt_meta *m = ckpt_reader_meta(r);
        printf("%-40s valid    step %" PRId64 "/%" PRId64 ", %" PRIu64 " bytes, shot hash %016" PRIx64
               "\n",
               v[i].name, m->step, m->total_steps, ckpt_reader_file_size(r), m->shot_hash);
        ckpt_close(r);
    }
    if (n == 0)
        printf("no checkpoints in %s\n", dir);
    free(v);
    return CLI_EXIT_OK;
}

/* ---- synth ----------------------------------------------------------------- */

struct slow_disk {
    long throttle_ms; /* sleep before each write */
};

static ssize_t slow_write(void *ctx, int fd, const void *buf, size_t len)
{
    const struct slow_disk *d = ctx;
    struct timespec ts = {d->throttle_ms / 1000, (d->throttle_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return write(fd, buf, len < 65536 ? len : 65536);
}

/* Smooth field + small noise: compresses like a real latent. */
static void synth_fill(float *v, size_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        float noise = (float)((double)(s >> 40) / (double)(1ull << 24) - 0.5);
        v[i] = sinf(0.001f * (float)i) + 0.05f * noise;
    }
}

static int do_synth(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {{"shot", required_argument, NULL, 's'},
                                         {"step", required_argument, NULL, 'n'},
                                         {"total", required_argument, NULL, 't'},
                                         {"mb", required_argument, NULL, 'm'},
                                         {"keep", required_argument, NULL, 'k'},
                                         {"throttle-ms", required_argument, NULL, 'w'},
                                         {NULL, 0, NULL, 0}};
    const char *shot = NULL;
    long step = -1, total = 50, keep = 0, throttle = 0;
    double mb = 1;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': shot = optarg; break;
        case 'n': step = strtol(optarg, NULL, 10); break;
        case 't': total = strtol(optarg, NULL, 10); break;
        case 'm': mb = strtod(optarg, NULL); break;
        case 'k': keep = strtol(optarg, NULL, 10); break;
        case 'w': throttle = strtol(optarg, NULL, 10); break;
        default: return usage(stderr);
        }
    }
    if (optind != argc - 1 || !shot || step < 0)
        return cli_usage_error("ckpt", "synth needs DIR, --shot and --step");
    if (!(mb > 0 && mb <= 65536) || keep < 0 || throttle < 0 || throttle > 10000)
        return cli_usage_error("ckpt", "synth: --mb in (0, 65536], --keep >= 0, "
                                       "--throttle-ms in [0, 10000]");
    struct ckpt_meta m = {0};
    snprintf(m.shot_id, sizeof(m.shot_id), "%s", shot);
    m.shot_hash = 1;
    m.weights_hash = 1;
    m.step = step;
    m.total_steps = total;
    m.layout_cfg = m.layout_ulysses = m.layout_ring = m.layout_world = 1;
    struct slow_disk disk = {throttle};
    struct ckpt_io io = {.write = slow_write, .ctx = &disk};
    struct ckpt_write_opts o;
    ckpt_write_opts_init(&o);
    o.keep_last = (int)keep;
    o.io = throttle ? &io : NULL;
    size_t n = (size_t)(mb * 1024 * 1024 / 4);
    float *data = malloc(n * sizeof(float));
    struct df_err err = {0};
    ckpt_writer_t *w = NULL;
    struct ckpt_commit_info info;
    int rc = data ? 0 : df_err_set(&err, DF_E_NOMEM, "out of memory");
    if (rc == 0) {
        synth_fill(data, n, (uint64_t)step);
        rc = ckpt_writer_create(&m, &o, &w, &err);
    }
    if (rc == 0)
        rc = ckpt_writer_put_i64(w, "synth.step", step, &err);
    if (rc == 0)
        rc = ckpt_writer_put_tensor(w, "latent", data, (int64_t[]){(int64_t)n}, 1, &err);
    if (rc == 0)
        rc = ckpt_writer_commit(w, argv[optind], &info, &err);
    ckpt_writer_free(w);
    free(data);
    if (rc < 0) {
        DF_ERROR(ctx->log, "ckpt synth: %s", err.msg);
        return CLI_EXIT_FAIL;
    }
    printf("%s: %" PRIu64 " bytes (raw %" PRIu64 "), encode %.3f s, write %.3f s, "
           "fsync+rename %.3f s, pruned %d, temp removed %d\n",
           info.path, info.file_bytes, info.raw_bytes, info.encode_s, info.write_s, info.sync_s,
           info.pruned, info.stale_tmp_removed);
    return CLI_EXIT_OK;
}

int cmd_ckpt(int argc, char **argv, const struct cli_ctx *ctx)
{
    if (argc < 2)
        return usage(stderr);
    const char *sub = argv[1];
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(stdout);
    if (strcmp(sub, "inspect") == 0)
        return do_inspect(argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0)
        return do_list(argc - 1, argv + 1);
    if (strcmp(sub, "synth") == 0)
        return do_synth(argc - 1, argv + 1, ctx);
    return cli_usage_error("ckpt", "unknown subcommand '%s' (inspect, list, synth)", sub);
}
