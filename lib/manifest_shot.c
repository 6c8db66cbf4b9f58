/* manifest_shot.c -- the schema of one shot: every key, its type, range and
 * default, read from a merged shot mapping into struct shot (docs/manifest.md
 * is the user-facing copy of this file; keep them in step). */
#include "manifest_int.h"
#include "ident.h"
#include "model_folder.h"
#include "paths.h"
#include "url.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

/* Seeds stay below 2^53 so the normalized JSON (doubles) keeps them exact. */
#define SEED_MAX ((int64_t)9007199254740991)

static const char *const k_shot_keys[] = {
    "id",        "prompt",   "negative_prompt", "prompt_embeds", "negative_prompt_embeds",
    "model",     "width",    "height",          "frames",        "fps",
    "steps",     "guidance_scale", "dynamic_cfg", "sampler",   "flow_shift",    "seed",
    "cache",     "checkpoint", "output",        "priority",      "after",
    "notify",    "resources", NULL,
};
static const char *const k_cache_keys[] = {"policy", "threshold", "mode", "thresh_lo",
                                           "thresh_hi", "k", "cfg_threshold", NULL};
static const char *const k_ckpt_keys[] = {"every_steps", "every_minutes", "keep", NULL};
static const char *const k_output_keys[] = {"path", "codec", "crf", "bitrate", "pix_fmt",
                                            "audio", NULL};
static const char *const k_res_keys[] = {"max_gpus", "time_limit", "partition", "account", "qos",
                                         NULL};

/* Common other spellings: (alias, name) pairs, for "did you mean". */
static const char *const k_codec_aliases[] = {
    "h265", "hevc", "x265", "hevc", "h.265", "hevc", "libx265", "hevc", "avc", "h264",
    "x264", "h264", "h.264", "h264", "libx264", "h264", "prores_ks", "prores", NULL,
};
static const char *const k_sampler_aliases[] = {"uni_pc", "unipc", "unipcmultistep", "unipc",
                                                "flow_euler", "euler", NULL};

/* ---- small readers ------------------------------------------------------------ */

int manifest_valid_id(const char *s)
{
    return ident_valid(s);
}

static void check_keys(const struct ynode *map, const char *const *allowed, struct diag_list *dl)
{
    for (size_t i = 0; i < map->n; i++) {
        const struct ynode *k = map->items[2 * i];
        if (strncmp(k->str, "x-", 2) == 0) /* extension keys: ignored */
            continue;
        int known = 0;
        for (size_t j = 0; allowed[j] && !known; j++)
            known = strcmp(allowed[j], k->str) == 0;
        if (known)
            continue;
        const char *sug = ytree_suggest(k->str, allowed);
        ynode_diag(k, dl, "unknown key '%.64s'%s%s%s", k->str, sug ? " (did you mean '" : "",
                   sug ? sug : "", sug ? "'?)" : "");
    }
}

/* The value of key, NULL when absent or null (null means "the default"). */
static const struct ynode *val(const struct ynode *map, const char *key)
{
    const struct ynode *n = ynode_get(map, key);
    return ynode_is_null(n) ? NULL : n;
}

static void get_int(const struct ynode *map, const char *key, int64_t lo, int64_t hi, int dflt,
                    int *out, struct diag_list *dl)
{
    const struct ynode *n = val(map, key);
    int64_t v;
    *out = dflt;
    if (n && ynode_int(n, lo, hi, &v, dl) == 0)
        *out = (int)v;
}

static void get_double(const struct ynode *map, const char *key, double lo, double hi,
                       double dflt, double *out, struct diag_list *dl)
{
    const struct ynode *n = val(map, key);
    *out = dflt;
    if (n)
        ynode_double(n, lo, hi, out, dl);
}

/* A heap copy of a string value; *out stays NULL when absent or wrong. */
static int get_strdup(const struct ynode *map, const char *key, char **out, struct diag_list *dl)
{
    const struct ynode *n = val(map, key);
    const char *s;
    *out = NULL;
    if (!n || ynode_str(n, &s, dl) < 0)
        return 0;
    *out = strdup(s);
    if (!*out) {
        ynode_diag(n, dl, "out of memory");
        return -1;
    }
    return 0;
}

/* A name from `names`; unknown names get a suggestion (aliases map common
 * other spellings to ours) or the list of choices. */
static int get_choice(const struct ynode *map, const char *key, const char *what,
                      const char *const *names, const char *const *aliases, int dflt, int *out,
                      struct diag_list *dl)
{
    const struct ynode *n = val(map, key);
    const char *s;
    *out = dflt;
    if (!n)
        return 0;
    if (ynode_str(n, &s, dl) < 0)
        return -1;
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return *out = i, 0;
    const char *cands[64];
    size_t nc = 0;
    for (size_t i = 0; names[i] && nc < 63; i++)
        cands[nc++] = names[i];
    for (size_t i = 0; aliases && aliases[i] && nc < 63; i += 2)
        cands[nc++] = aliases[i];
    cands[nc] = NULL;
    const char *sug = ytree_suggest(s, cands);
    for (size_t i = 0; sug && aliases && aliases[i]; i += 2)
        if (strcmp(sug, aliases[i]) == 0)
            sug = aliases[i + 1];
    if (!sug)
        for (size_t i = 0; aliases && aliases[i]; i += 2) /* "H265" is an alias too */
            if (strcasecmp(s, aliases[i]) == 0 || strcasecmp(s, aliases[i + 1]) == 0)
                sug = aliases[i + 1];
    if (sug) {
        ynode_diag(n, dl, "unknown %s '%.64s' (did you mean '%s'?)", what, s, sug);
    } else {
        char list[256] = "";
        for (size_t i = 0; names[i]; i++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                     i == 0 ? "" : (names[i + 1] ? ", " : " or "), names[i]);
        ynode_diag(n, dl, "unknown %s '%.64s' (choose %s)", what, s, list);
    }
    return -1;
}

/* A file named relative to the manifest that names it; must exist. */
static int get_file(const struct ynode *map, const char *key, char **out, struct diag_list *dl)
{
    const struct ynode *n = val(map, key);
    const char *s;
    *out = NULL;
    if (!n || ynode_str(n, &s, dl) < 0)
        return 0;
    char dir[PATH_MAX], path[PATH_MAX];
    struct df_err e = {0};
    if (paths_dirname_abs(n->file, dir, sizeof(dir), &e) < 0 ||
        paths_join(dir, s, path, sizeof(path), &e) < 0) {
        ynode_diag(n, dl, "%s", e.msg);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) < 0) {
        ynode_diag(n, dl, "file not found: %s", path);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        ynode_diag(n, dl, "not a regular file: %s", path);
        return -1;
    }
    if (!(*out = strdup(path))) {
        ynode_diag(n, dl, "out of memory");
        return -1;
    }
    return 0;
}

/* A string or a list of strings, as a heap array of heap strings. */
static int get_str_list(const struct ynode *map, const char *key, char ***out, size_t *n_out,
                        struct diag_list *dl)
{
    const struct ynode *n = val(map, key);
    *out = NULL;
    *n_out = 0;
    if (!n)
        return 0;
    const struct ynode *one[1] = {n};
    struct ynode *const *items = (struct ynode *const *)one;
    size_t count = 1;
    if (n->kind == YNODE_KIND_SEQ) {
        items = n->items;
        count = n->n;
    } else if (n->kind != YNODE_KIND_SCALAR) {
        ynode_diag(n, dl, "expected a string or a list of strings, got a %s",
                   ynode_kind_name(n->kind));
        return -1;
    }
    *out = calloc(count ? count : 1, sizeof(**out));
    if (!*out)
        return -1;
    for (size_t i = 0; i < count; i++) {
        const char *s;
        if (ynode_str(items[i], &s, dl) < 0)
            continue;
        if (!((*out)[(*n_out)++] = strdup(s)))
            return -1;
    }
    return 0;
}

static const char *ext_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    return dot && (!slash || dot > slash) ? dot : "";
}

/* ---- sections ---------------------------------------------------------------------- */

static void read_cache(const struct ynode *shot, struct shot_cache *c, struct diag_list *dl)
{
    c->policy = CACHE_POLICY_OFF;
    c->threshold = 0.2;
    c->mode = CACHE_MODE_E0;
    c->thresh_lo = 0.09;
    c->thresh_hi = 0.23;
    c->k = 50.0;
    c->cfg_threshold = 0.02;
    const struct ynode *n = val(shot, "cache");
    int v;
    if (!n)
        return;
    if (n->kind == YNODE_KIND_SCALAR) { /* `cache: teacache` shorthand */
        struct ynode wrap = {.kind = YNODE_KIND_MAP};
        const struct ynode *kv[2];
        struct ynode key = {.kind = YNODE_KIND_SCALAR, .str = "policy"};
        kv[0] = &key;
        kv[1] = n;
        wrap.items = (struct ynode **)kv;
        wrap.n = 1;
        if (get_choice(&wrap, "policy", "cache policy", cache_policy_names, NULL, 0, &v, dl) == 0)
            c->policy = (enum cache_policy)v;
        return;
    }
    if (ynode_expect(n, YNODE_KIND_MAP, dl) < 0)
        return;
    check_keys(n, k_cache_keys, dl);
    if (get_choice(n, "policy", "cache policy", cache_policy_names, NULL, 0, &v, dl) == 0)
        c->policy = (enum cache_policy)v;
    if (get_choice(n, "mode", "cache mode", cache_mode_names, NULL, CACHE_MODE_E0, &v, dl) == 0)
        c->mode = (enum cache_mode)v;
    get_double(n, "threshold", 0.0, 10.0, c->threshold, &c->threshold, dl);
    get_double(n, "thresh_lo", 0.0, 10.0, c->thresh_lo, &c->thresh_lo, dl);
    get_double(n, "thresh_hi", 0.0, 10.0, c->thresh_hi, &c->thresh_hi, dl);
    get_double(n, "k", 0.0, 1000.0, c->k, &c->k, dl);
    get_double(n, "cfg_threshold", 0.0, 1.0, c->cfg_threshold, &c->cfg_threshold, dl);
    if (c->thresh_lo > c->thresh_hi)
        ynode_diag(val(n, "thresh_lo") ? val(n, "thresh_lo") : n, dl,
                   "thresh_lo %g is above thresh_hi %g (lo is the threshold for complex "
                   "prompts and must be <= hi)",
                   c->thresh_lo, c->thresh_hi);
}

static void read_checkpoint(const struct ynode *shot, struct shot_checkpoint *c,
                            struct diag_list *dl)
{
    c->every_steps = 0;
    c->every_minutes = 0;
    c->keep = 2;
    const struct ynode *n = val(shot, "checkpoint");
    if (!n || ynode_expect(n, YNODE_KIND_MAP, dl) < 0)
        return;
    check_keys(n, k_ckpt_keys, dl);
    get_int(n, "every_steps", 0, 100000, 0, &c->every_steps, dl);
    get_double(n, "every_minutes", 0.0, 10080.0, 0.0, &c->every_minutes, dl);
    get_int(n, "keep", 1, 1000, 2, &c->keep, dl);
}

/* Slurm time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S; an integer is minutes.
 * Returns minutes rounded up, or -1. */
static int parse_time_limit(const char *s)
{
    long f[4] = {0, 0, 0, 0}; /* days, then up to three colon fields */
    int nf = 0, days = 0;
    const char *p = s;
    char *end;
    const char *dash = strchr(s, '-');
    if (dash) {
        if (*s < '0' || *s > '9')
            return -1;
        f[0] = strtol(s, &end, 10);
        /* bounded before any arithmetic: strtol saturates at LONG_MAX */
        if (end != dash || end == s || f[0] > 10000)
            return -1;
        days = 1;
        p = dash + 1;
    }
    long c[3];
    for (;;) {
        if (*p < '0' || *p > '9' || nf == 3)
            return -1;
        c[nf++] = strtol(p, &end, 10);
        if (c[nf - 1] > 1000000)
            return -1;
        if (*end == '\0')
            break;
        if (*end != ':')
            return -1;
        p = end + 1;
    }
    long sec;
    if (days) /* D-H[:M[:S]] */
        sec = f[0] * 86400 + c[0] * 3600 + (nf > 1 ? c[1] * 60 : 0) + (nf > 2 ? c[2] : 0);
    else if (nf == 1)
        sec = c[0] * 60;
    else if (nf == 2)
        sec = c[0] * 60 + c[1];
    else
        sec = c[0] * 3600 + c[1] * 60 + c[2];
    if (f[0] > 10000 || sec <= 0 || sec > 366L * 86400)
        return -1;
    return (int)((sec + 59) / 60);
}

static void read_name_field(const struct ynode *map, const char *key, char *dst, size_t cap,
                            struct diag_list *dl)
{
    const struct ynode *n = val(map, key);
    const char *s;
    dst[0] = '\0';
    if (!n || ynode_str(n, &s, dl) < 0)
        return;
    if (*s && !manifest_valid_id(s)) {
        ynode_diag(n, dl, "invalid %s name '%.64s' (" MANIFEST_ID_RULE ")",
                   key, s);
        return;
    }
    snprintf(dst, cap, "%s", s);
}

static void read_resources(const struct ynode *shot, struct shot_resources *r,
                           struct diag_list *dl)
{
    memset(r, 0, sizeof(*r));
    const struct ynode *n = val(shot, "resources");
    if (!n || ynode_expect(n, YNODE_KIND_MAP, dl) < 0)
        return;
    check_keys(n, k_res_keys, dl);
    get_int(n, "max_gpus", 0, 4096, 0, &r->max_gpus, dl);
    const struct ynode *t = val(n, "time_limit");
    if (t && t->kind == YNODE_KIND_SCALAR && !t->quoted && !strchr(t->str, ':') &&
        !strchr(t->str, '-')) {
        get_int(n, "time_limit", 1, 527040, 0, &r->time_limit_min, dl);
    } else if (t) {
        const char *s;
        if (ynode_str(t, &s, dl) == 0 && (r->time_limit_min = parse_time_limit(s)) < 0) {
            r->time_limit_min = 0;
            ynode_diag(t, dl,
                       "bad time limit '%.32s' (minutes, or Slurm's M:S, H:M:S, D-H, D-H:M, "
                       "D-H:M:S; at most 366 days)",
                       s);
        }
    }
    read_name_field(n, "partition", r->partition, sizeof(r->partition), dl);
    read_name_field(n, "account", r->account, sizeof(r->account), dl);
    read_name_field(n, "qos", r->qos, sizeof(r->qos), dl);
}

/* ---- output ---------------------------------------------------------------------- */

static const char *const k_placeholders[] = {"shot", "seed", "manifest", "date", NULL};

static void check_template(const struct ynode *n, const char *t, struct diag_list *dl)
{
    if (!*t) {
        ynode_diag(n, dl, "output path is empty");
        return;
    }
    for (const char *p = t; *p; p++) {
        if (*p == '}') {
            ynode_diag(n, dl, "unmatched '}' in output path");
            return;
        }
        if (*p != '{')
            continue;
        const char *close = strchr(p, '}');
        if (!close) {
            ynode_diag(n, dl, "unmatched '{' in output path");
            return;
        }
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(close - p - 1), p + 1);
        int ok = 0;
        for (int i = 0; k_placeholders[i]; i++)
            ok |= strcmp(name, k_placeholders[i]) == 0;
        if (!ok) {
            const char *sug = ytree_suggest(name, k_placeholders);
            ynode_diag(n, dl,
                       "unknown placeholder '{%s}' in output path%s%s%s; use {shot}, {seed}, "
                       "{manifest}, {date}",
                       name, sug ? " (did you mean '{" : "", sug ? sug : "", sug ? "}'?)" : "");
        }
        p = close;
    }
}

/* Containers the encoder can write each codec into (PNG: a directory). */
static const char *const k_codec_exts[CODEC_COUNT][4] = {
    [CODEC_H264] = {".mp4", ".mov", ".mkv", NULL},
    [CODEC_HEVC] = {".mp4", ".mov", ".mkv", NULL},
    [CODEC_PRORES] = {".mov", ".mkv", NULL, NULL},
    [CODEC_FFV1] = {".mkv", ".mov", NULL, NULL},
    [CODEC_PNG] = {"", NULL, NULL, NULL},
};
static const char *const k_pix_fmts[CODEC_COUNT][8] = {
    [CODEC_H264] = {"yuv420p", "yuv422p", "yuv444p", NULL},
    [CODEC_HEVC] = {"yuv420p", "yuv422p", "yuv444p", "yuv420p10le", "yuv422p10le", "yuv444p10le",
                    NULL},
    [CODEC_PRORES] = {"yuv422p10le", "yuv444p10le", NULL},
    [CODEC_FFV1] = {"bgr0", "gbrp", "yuv420p", "yuv422p", "yuv444p", "yuv420p10le", "yuv444p10le",
                    NULL},
    [CODEC_PNG] = {"rgb24", "rgba", "rgb48be", "gray", NULL},
};
static const char *const k_default_path[CODEC_COUNT] = {
    [CODEC_H264] = "out/{manifest}/{shot}.mp4", [CODEC_HEVC] = "out/{manifest}/{shot}.mp4",
    [CODEC_PRORES] = "out/{manifest}/{shot}.mov", [CODEC_FFV1] = "out/{manifest}/{shot}.mkv",
    [CODEC_PNG] = "out/{manifest}/{shot}",
};

/* "8M", "2.5M", "800k", 8000000 -> bits/s; -1 when malformed. */
static int64_t parse_bitrate(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0 || v > 1e12)
        return -1;
    double mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1e3, end++;
    else if (*end == 'M')
        mult = 1e6, end++;
    else if (*end == 'G')
        mult = 1e9, end++;
    if (*end)
        return -1;
    return (int64_t)(v * mult + 0.5);
}

static void read_bitrate(const struct ynode *n, int64_t *out, struct diag_list *dl)
{
    const char *s;
    if (ynode_str(n, &s, dl) < 0)
        return;
    int64_t b = parse_bitrate(s);
    if (b < 0 || (s[0] == '-'))
        ynode_diag(n, dl, "bad bitrate '%.32s' (bits per second, e.g. 8000000, 8M or 800k)", s);
    else if (b < 10000 || b > 2000000000)
        ynode_diag(n, dl, "bitrate %.32s is out of range (allowed: 10k to 2G)", s);
    else
        *out = b;
}

/* 1 when `n` is written inside the shot itself, not inherited from defaults. */
static int written_in(const struct ynode *n, const struct ynode *shot)
{
    size_t len = strlen(shot->path);
    return n && n->file == shot->file && strncmp(n->path, shot->path, len) == 0 &&
           n->path[len] == '.';
}

static int read_output(const struct ynode *shot, struct shot_output *o, struct diag_list *dl)
{
    const struct ynode *n = val(shot, "output");
    o->codec = CODEC_H264;
    o->crf = -1;
    if (n && ynode_expect(n, YNODE_KIND_MAP, dl) < 0)
        n = NULL;
    if (n)
        check_keys(n, k_output_keys, dl);
    int v;
    if (get_choice(n, "codec", "codec", codec_names, k_codec_aliases, CODEC_H264, &v, dl) == 0)
        o->codec = (enum codec)v;
    int lossy = o->codec == CODEC_H264 || o->codec == CODEC_HEVC;
    const struct ynode *crf = val(n, "crf"), *br = val(n, "bitrate");
    /* crf/bitrate/pix_fmt from defaults that do not fit this shot's codec
     * are dropped: the shot changed codec, not its mind about quality. */
    if (!lossy && !written_in(crf, shot))
        crf = NULL;
    if (!lossy && !written_in(br, shot))
        br = NULL;
    if ((crf || br) && !lossy)
        ynode_diag(crf ? crf : br, dl, "%s does not apply to codec %s (h264 and hevc only)",
                   crf ? "crf" : "bitrate", codec_name(o->codec));
    else if (crf && br)
        ynode_diag(br, dl, "give crf or bitrate, not both");
    else if (br)
        read_bitrate(br, &o->bitrate, dl);
    else if (lossy)
        get_int(n, "crf", 0, 51, o->codec == CODEC_H264 ? 18 : 20, &o->crf, dl);
    if (get_strdup(n, "path", &o->path, dl) < 0)
        return -1;
    if (!o->path && !(o->path = strdup(k_default_path[o->codec])))
        return -1;
    const struct ynode *pn = val(n, "path");
    struct df_err perr = {0};
    if (pn && paths_check_clean("output path", o->path, &perr) < 0)
        ynode_diag(pn, dl, "%s", perr.msg);
    if (pn) {
        check_template(pn, o->path, dl);
        const char *ext = ext_of(o->path);
        int ok = 0;
        for (int i = 0; k_codec_exts[o->codec][i]; i++)
            ok |= strcmp(ext, k_codec_exts[o->codec][i]) == 0;
        if (!ok && o->codec == CODEC_PNG)
            ynode_diag(pn, dl, "png output is a directory of frames: drop the '%s' extension",
                       ext);
        else if (!ok)
            ynode_diag(pn, dl, "codec %s cannot be written to a '%s' file (use %s%s%s)",
                       codec_name(o->codec), *ext ? ext : "extension-less",
                       k_codec_exts[o->codec][0],
                       k_codec_exts[o->codec][1] ? " or " : "",
                       k_codec_exts[o->codec][1] ? k_codec_exts[o->codec][1] : "");
    }
    const struct ynode *pf = val(n, "pix_fmt");
    const char *pix = k_pix_fmts[o->codec][0];
    if (o->codec == CODEC_FFV1)
        pix = "bgr0";
    if (pf && ynode_str(pf, &pix, dl) == 0) {
        int ok = 0;
        for (int i = 0; k_pix_fmts[o->codec][i]; i++)
            ok |= strcmp(pix, k_pix_fmts[o->codec][i]) == 0;
        if (!ok && !written_in(pf, shot)) {
            pix = o->codec == CODEC_FFV1 ? "bgr0" : k_pix_fmts[o->codec][0];
        } else if (!ok) {
            char list[200] = "";
            for (int i = 0; k_pix_fmts[o->codec][i]; i++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                         k_pix_fmts[o->codec][i]);
            ynode_diag(pf, dl, "pixel format '%.32s' is not supported with %s (use %s)", pix,
                       codec_name(o->codec), list);
        }
    }
    snprintf(o->pix_fmt, sizeof(o->pix_fmt), "%s", pix);
    if (get_file(n, "audio", &o->audio, dl) < 0)
        return 0;
    if (o->audio && o->codec == CODEC_PNG)
        ynode_diag(val(n, "audio"), dl, "a png sequence cannot carry an audio track");
    return 0;
}

/* ---- model and size ---------------------------------------------------------------- */

static int read_model(struct mload *ld, const struct ynode *shot, struct shot *s)
{
    struct diag_list *dl = ld->diags;
    const struct ynode *n = val(shot, "model");
    const char *name;
    if (!n) {
        ynode_diag(shot, dl, "missing required key 'model' (a name from configs/models or a "
                             "diffusers model folder)");
        return -1;
    }
    if (ynode_str(n, &name, dl) < 0)
        return -1;
    size_t len = strlen(name);
    int is_path = strchr(name, '/') || (len > 5 && strcmp(name + len - 5, ".yaml") == 0);
    char path[PATH_MAX];
    struct df_err e = {0};
    if (is_path) { /* relative to the manifest that names it */
        char dir[PATH_MAX];
        if (paths_dirname_abs(n->file, dir, sizeof(dir), &e) < 0 ||
            paths_join(dir, name, path, sizeof(path), &e) < 0) {
            ynode_diag(n, dl, "%s", e.msg);
            return -1;
        }
        name = path;
    }
    for (int i = 0; !is_path && i < ld->n_geom_cache; i++)
        if (strcmp(ld->geom_cache[i].name, name) == 0) {
            s->geom = ld->geom_cache[i];
            return (s->model = strdup(name)) ? 0 : -1;
        }
    int rc = model_geom_load(name, ld->configs_dir, &s->geom, &e);
    /* Cache only configs whose file name matches their name: (name, geometry). */
    if (rc == 0 && !is_path && strcmp(s->geom.name, name) == 0 &&
        ld->n_geom_cache < MLOAD_GEOM_CACHE)
        ld->geom_cache[ld->n_geom_cache++] = s->geom;
    if (rc == DF_E_NOTFOUND && !is_path) {
        /* Not a configs/models name: maybe a model folder next to the manifest. */
        char dir[PATH_MAX];
        struct stat st;
        struct df_err e2 = {0};
        if (paths_dirname_abs(n->file, dir, sizeof(dir), &e2) == 0 &&
            paths_join(dir, name, path, sizeof(path), &e2) == 0 && stat(path, &st) == 0 &&
            S_ISDIR(st.st_mode)) {
            name = path;
            rc = model_geom_load(name, ld->configs_dir, &s->geom, &e);
        }
    }
    if (rc < 0) {
        ynode_diag(n, dl, "%s", e.msg);
        return -1;
    }
    s->model = strdup(name);
    return s->model ? 0 : -1;
}

static void check_size(const struct ynode *shot, struct shot *s, struct diag_list *dl)
{
    struct df_err e = {0};
    const struct ynode *at;
    if (model_geom_check_width(&s->geom, s->width, &e) < 0) {
        at = val(shot, "width");
        ynode_diag(at ? at : shot, dl, "%s", e.msg);
    }
    if (model_geom_check_height(&s->geom, s->height, &e) < 0) {
        at = val(shot, "height");
        ynode_diag(at ? at : shot, dl, "%s", e.msg);
    }
    if (model_geom_check_frames(&s->geom, s->frames, &e) < 0) {
        at = val(shot, "frames");
        ynode_diag(at ? at : shot, dl, "%s", e.msg);
    }
    if (model_geom_grid(&s->geom, s->width, s->height, s->frames, &s->grid, &e) < 0)
        memset(&s->grid, 0, sizeof(s->grid));
}

/* A diffusers folder's other parts (model_folder.h): they fit the transformer,
 * a text prompt has an encoder, and its scheduler gives the sampler defaults. */
static void check_folder(const struct ynode *shot, struct shot *s, struct diag_list *dl)
{
    struct model_folder f;
    struct df_err e = {0};
    const struct ynode *at = val(shot, "model");
    if (!s->geom.path[0])
        return;
    if (model_folder_read(s->geom.path, &f, &e) < 0 ||
        model_folder_check_fit(s->geom.path, &f, &s->geom, &e) < 0) {
        ynode_diag(at ? at : shot, dl, "%s", e.msg);
        return;
    }
    int guided = shot_guided(s);
    int text = (s->prompt && !s->prompt_embeds) || (guided && !s->negative_prompt_embeds);
    if (text && !(f.has_text_encoder && f.has_tokenizer) && !model_folder_is_demo(s->model)) {
        at = val(shot, s->prompt && !s->prompt_embeds ? "prompt" : "guidance_scale");
        ynode_diag(at ? at : shot, dl,
                   "model folder %s has no text encoder (tokenizer/ and text_encoder/): the "
                   "prompt%s cannot be encoded; give prompt_embeds:%s or use the full "
                   "diffusers folder",
                   s->geom.path, s->prompt && !s->prompt_embeds ? "" : " (negative, for guidance)",
                   guided ? " and negative_prompt_embeds: files" : " a file");
    }
    enum sampler_kind k;
    if (f.sched.sampler && !val(shot, "sampler") && sampler_kind_from_name(f.sched.sampler, &k, NULL) == 0)
        s->sampler = k;
    if (f.sched.has_flow_shift && !val(shot, "flow_shift"))
        s->flow_shift = f.sched.flow_shift;
}

static void read_seed(const struct ynode *shot, struct shot *s, struct diag_list *dl)
{
    const struct ynode *n = val(shot, "seed");
    if (n && n->kind == YNODE_KIND_SCALAR && strcmp(n->str, "random") == 0)
        n = NULL;
    if (n) {
        int64_t v;
        if (ynode_int(n, 0, SEED_MAX, &v, dl) == 0)
            s->seed = (uint64_t)v;
        return;
    }
    /* Drawn once, here, and recorded in the normalized form, so a requeued or
     * resumed job renders the same video. */
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = (uint32_t)(ts.tv_nsec ^ (ts.tv_sec * 2654435761u));
    }
    s->seed = r;
    s->seed_random = 1;
}

static void read_notify(const struct ynode *shot, struct shot *s, struct diag_list *dl)
{
    if (get_str_list(shot, "notify", &s->notify, &s->n_notify, dl) < 0)
        ynode_diag(shot, dl, "out of memory");
    const struct ynode *n = val(shot, "notify");
    for (size_t i = 0; i < s->n_notify; i++) {
        /* one parser decides (lib/url.h): http(s) only, a real host, no
         * blanks (the store once split URL lists on blanks) */
        struct url_parts u;
        struct df_err e = {0};
        if (url_parse(s->notify[i], &u, &e) < 0)
            ynode_diag(n->kind == YNODE_KIND_SEQ && i < n->n ? n->items[i] : n, dl, "%s", e.msg);
    }
}

int manifest_shot_read(struct mload *ld, const struct ynode *node, struct shot *s,
                       struct shot_src *src)
{
    struct diag_list *dl = ld->diags;
    size_t before = dl->errors;
    src->node = node;
    s->line = node->line;
    s->col = node->col;
    s->file = node->file;
    if (ynode_expect(node, YNODE_KIND_MAP, dl) < 0)
        return -1;
    check_keys(node, k_shot_keys, dl);

    src->id = val(node, "id");
    if (!src->id)
        ynode_diag(node, dl, "missing required key 'id'");
    else if (get_strdup(node, "id", &s->id, dl) < 0)
        return -1;
    else if (s->id && !manifest_valid_id(s->id))
        ynode_diag(src->id, dl,
                   "invalid shot id '%.64s' (" MANIFEST_ID_RULE ")", s->id);

    if (get_strdup(node, "prompt", &s->prompt, dl) < 0 ||
        get_strdup(node, "negative_prompt", &s->negative_prompt, dl) < 0)
        return -1;
    if (!s->negative_prompt && !(s->negative_prompt = strdup("")))
        return -1;
    get_file(node, "prompt_embeds", &s->prompt_embeds, dl);
    get_file(node, "negative_prompt_embeds", &s->negative_prompt_embeds, dl);
    if (!val(node, "prompt") && !val(node, "prompt_embeds"))
        ynode_diag(node, dl, "a shot needs 'prompt' (text) or 'prompt_embeds' (a .safetensors)");

    int have_model = read_model(ld, node, s) == 0;
    get_int(node, "width", 1, 8192, 832, &s->width, dl);
    get_int(node, "height", 1, 8192, 480, &s->height, dl);
    get_int(node, "frames", 1, 4097, 81, &s->frames, dl);
    get_int(node, "fps", 1, 240, 16, &s->fps, dl);
    get_int(node, "steps", 1, 1000, 50, &s->steps, dl);
    get_double(node, "guidance_scale", 0.0, 100.0, 5.0, &s->guidance_scale, dl);
    const struct ynode *dyn = val(node, "dynamic_cfg");
    s->dynamic_cfg = 0;
    if (dyn)
        ynode_bool(dyn, &s->dynamic_cfg, dl);
    get_double(node, "flow_shift", 0.0, 100.0, 5.0, &s->flow_shift, dl);
    int v;
    if (get_choice(node, "sampler", "sampler", sampler_kind_names, k_sampler_aliases, SAMPLER_KIND_UNIPC,
                   &v, dl) == 0)
        s->sampler = (enum sampler_kind)v;
    else
        s->sampler = SAMPLER_KIND_UNIPC;
    if (have_model) {
        check_size(node, s, dl);
        check_folder(node, s, dl);
    }
    read_seed(node, s, dl);
    read_cache(node, &s->cache, dl);
    read_checkpoint(node, &s->checkpoint, dl);
    if (read_output(node, &s->output, dl) < 0)
        return -1;
    get_int(node, "priority", -1000, 1000, 0, &s->priority, dl);
    src->after = val(node, "after");
    if (get_str_list(node, "after", &s->after, &s->n_after, dl) < 0)
        return -1;
    read_notify(node, s, dl);
    read_resources(node, &s->resources, dl);
    src->ok = dl->errors == before;
    return src->ok ? 0 : -1;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void manifest_shot_fini(struct shot *s)
{
    free(s->id);
    free(s->prompt);
    free(s->negative_prompt);
    free(s->prompt_embeds);
    free(s->negative_prompt_embeds);
    free(s->model);
    free(s->output.path);
    free(s->output.audio);
    free_list(s->after, s->n_after);
    free_list(s->notify, s->n_notify);
    memset(s, 0, sizeof(*s));
}
