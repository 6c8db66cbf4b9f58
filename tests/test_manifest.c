/* test_manifest.c -- manifest loading: the bad-input corpus with its exact
 * messages, every schema feature on a good file, defaults/anchors/includes,
 * seeds, the normalized JSON round trip and the shot hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "diag.h"
#include "manifest.h"
#include "ytree.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIGS DF_SOURCE_DIR "/configs"
#define BAD DF_TEST_DATA "/bad/manifest/"
#define GOOD DF_TEST_DATA "/manifest/"

/* ---- the corpus of bad files ------------------------------------------------ */

struct bad_case {
    const char *file;
    const char *expect[16]; /* "base:line:col: key.path: message"; {DATA} = tests/data */
};

/* Every file under tests/data/bad/manifest/ with ALL the messages one load
 * gives, in reading order (file, line, column).  Edit by hand: these are the
 * product's words. */
static const struct bad_case k_bad[] = {
    {"billion_laughs.yaml",
     {
         "billion_laughs.yaml:11:10: x-lol10: expected a string, got a list",
     }},
    {"comments_only.yaml",
     {
         "comments_only.yaml:1:1: empty manifest: expected a mapping with a 'shots:' list",
     }},
    {"deep.yaml",
     {
         "deep.yaml:1:71: shots[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0: nesting deeper than 64 levels",
     }},
    {"dep_cycle.yaml",
     {
         "dep_cycle.yaml:6:12: shots[1].after: dependency cycle: a -> c -> b -> a",
         "dep_cycle.yaml:10:13: shots[3].after[0]: shot 'd' cannot run after itself",
         "dep_cycle.yaml:10:16: shots[3].after[1]: no shot with id 'intro' (did you mean 'intro2'?)",
     }},
    {"duplicate_ids.yaml",
     {
         "duplicate_ids.yaml:5:9: shots[2].id: duplicate shot id 'intro' (first used at line 3)",
         "duplicate_ids.yaml:6:9: shots[3].id: invalid shot id 'bad id!' (letters, digits, '.', '_', '-', not starting with '.' or '-'; at most 63)",
         "duplicate_ids.yaml:7:9: shots[4].id: invalid shot id '..' (letters, digits, '.', '_', '-', not starting with '.' or '-'; at most 63)",
     }},
    {"duplicate_key.yaml",
     {
         "duplicate_key.yaml:5:5: shots[0].model: duplicate key 'model' (first at line 3)",
     }},
    {"empty.yaml",
     {
         "empty.yaml:1:1: empty manifest: expected a mapping with a 'shots:' list",
     }},
    {"enums.yaml",
     {
         "enums.yaml:4:14: shots[0].sampler: unknown sampler 'ddim' (choose euler, unipc, cogvideox_ddim or cogvideox_dpm)",
         "enums.yaml:5:21: shots[0].output.codec: unknown codec 'h265x' (did you mean 'hevc'?)",
         "enums.yaml:6:21: shots[0].cache.policy: unknown cache policy 'teacach' (did you mean 'teacache'?)",
         "enums.yaml:6:36: shots[0].cache.mode: unknown cache mode 'e1' (did you mean 'e'?)",
         "enums.yaml:8:14: shots[1].sampler: unknown sampler 'Euler' (did you mean 'euler'?)",
         "enums.yaml:9:21: shots[1].output.codec: unknown codec 'H265' (did you mean 'hevc'?)",
         "enums.yaml:10:12: shots[1].cache: unknown cache policy 'lazy' (choose off, teacache or prompttea)",
     }},
    {"garbage.yaml",
     {
         "garbage.yaml:1:2: not valid UTF-8 text (invalid trailing UTF-8 octet: byte 0x04 at offset 1); save the file as UTF-8",
     }},
    {"geometry.yaml",
     {
         "geometry.yaml:6:12: shots[0].width: width 100 is not a multiple of 16 (model 'tiny': VAE stride 8 x patch 2); nearest: 96 or 112",
         "geometry.yaml:7:13: shots[0].height: height 70 is not a multiple of 16 (model 'tiny': VAE stride 8 x patch 2); nearest: 64 or 80",
         "geometry.yaml:8:13: shots[0].frames: frames 10 is not of the form 4k+1 (model 'tiny'); nearest: 9 or 13",
         "geometry.yaml:10:12: shots[1].width: width 8 is not a multiple of 16 (model 'tiny': VAE stride 8 x patch 2); nearest: 16",
         "geometry.yaml:12:13: shots[1].frames: frames 2 is not of the form 4k+1 (model 'tiny'); nearest: 1 or 5",
         "geometry.yaml:17:13: shots[2].frames: frames 80 is not of the form 4k+1 (model 'wan2.1-t2v-1.3b'); nearest: 77 or 81",
     }},
    {"huge_number.yaml",
     {
         "huge_number.yaml:5:12: shots[0].width: 99999999999999999999999999999 is out of range (allowed: 1 to 8192)",
         "huge_number.yaml:6:12: shots[0].steps: -9223372036854775809 is out of range (allowed: 1 to 1000)",
         "huge_number.yaml:7:21: shots[0].guidance_scale: 1e999 is out of range (allowed: 0 to 100)",
     }},
    {"include_cycle.yaml",
     {
         "include_cycle_b.yaml:1:11: include[0]: include cycle: {DATA}/bad/manifest/include_cycle.yaml -> {DATA}/bad/manifest/include_cycle_b.yaml -> {DATA}/bad/manifest/include_cycle.yaml",
     }},
    {"include_cycle_b.yaml",
     {
         "include_cycle.yaml:1:10: include: include cycle: {DATA}/bad/manifest/include_cycle_b.yaml -> {DATA}/bad/manifest/include_cycle.yaml -> {DATA}/bad/manifest/include_cycle_b.yaml",
     }},
    {"include_missing.yaml",
     {
         "include_missing.yaml:1:11: include[0]: included file not found: {DATA}/bad/manifest/missing-include.yaml",
         "include_missing.yaml:1:33: include[1]: cannot include {DATA}/bad/manifest/../manifest: is a directory, not a file",
     }},
    {"latin1.yaml",
     {
         "latin1.yaml:2:13: not valid UTF-8 text (invalid trailing UTF-8 octet: byte 0x0A at offset 19); save the file as UTF-8",
     }},
    {"merge_bomb.yaml",
     {
         "merge_bomb.yaml:2:7: x-m1: merging defaults: document too large (more than 1000000 nodes)",
     }},
    {"missing_files.yaml",
     {
         "missing_files.yaml:3:12: shots[0].model: model '{DATA}/bad/manifest/no-such-model-folder': no such file or folder",
         "missing_files.yaml:4:20: shots[0].prompt_embeds: file not found: {DATA}/bad/manifest/embeds/missing.safetensors",
         "missing_files.yaml:5:29: shots[0].negative_prompt_embeds: file not found: /nonexistent/neg.safetensors",
         "missing_files.yaml:7:14: shots[0].output.audio: file not found: {DATA}/bad/manifest/music/missing.wav",
     }},
    {"missing_required.yaml",
     {
         "missing_required.yaml:2:5: shots[0]: missing required key 'id'",
         "missing_required.yaml:2:5: shots[0]: missing required key 'model' (a name from configs/models or a diffusers model folder)",
         "missing_required.yaml:3:5: shots[1]: a shot needs 'prompt' (text) or 'prompt_embeds' (a .safetensors)",
     }},
    {"model_path.yaml",
     {
         "model_path.yaml:3:12: shots[0].model: {DATA}/bad/manifest/../../manifest/base.yaml:2:1: defaults: unknown key 'defaults'",
         "model_path.yaml:6:12: shots[1].model: {DATA}/bad/manifest/../../manifest/audio.wav:1:6: control character 0x06 at offset 5 is not allowed in YAML (is this a binary file?)",
         "model_path.yaml:8:33: shots[1].output.audio: a png sequence cannot carry an audio track",
     }},
    {"multi_doc.yaml",
     {
         "multi_doc.yaml:3:1: more than one YAML document ('---') in the file; put all shots in one",
     }},
    {"no_shots.yaml",
     {
         "no_shots.yaml:1:8: shots: no shots: the list is empty",
     }},
    {"not_mapping.yaml",
     {
         "not_mapping.yaml:1:1: a manifest is a mapping with 'defaults:' and 'shots:', not a sequence",
     }},
    {"nul.yaml",
     {
         "nul.yaml:2:9: shots[0].id: NUL character inside a string",
     }},
    {"out_of_range.yaml",
     {
         "out_of_range.yaml:8:12: shots[0].steps: 0 is out of range (allowed: 1 to 1000)",
         "out_of_range.yaml:9:10: shots[0].fps: 1000 is out of range (allowed: 1 to 240)",
         "out_of_range.yaml:10:21: shots[0].guidance_scale: -1 is out of range (allowed: 0 to 100)",
         "out_of_range.yaml:11:17: shots[0].flow_shift: 101 is out of range (allowed: 0 to 100)",
         "out_of_range.yaml:12:15: shots[0].priority: 5000 is out of range (allowed: -1000 to 1000)",
         "out_of_range.yaml:13:19: shots[0].output.crf: 60 is out of range (allowed: 0 to 51)",
         "out_of_range.yaml:14:42: shots[0].cache.threshold: 11 is out of range (allowed: 0 to 10)",
         "out_of_range.yaml:15:31: shots[0].checkpoint.every_steps: -1 is out of range (allowed: 0 to 100000)",
         "out_of_range.yaml:15:41: shots[0].checkpoint.keep: 0 is out of range (allowed: 1 to 1000)",
     }},
    {"output.yaml",
     {
         "output.yaml:4:20: shots[0].output.path: unknown placeholder '{shots}' in output path (did you mean '{shot}'?); use {shot}, {seed}, {manifest}, {date}",
         "output.yaml:4:20: shots[0].output.path: unmatched '{' in output path",
         "output.yaml:6:20: shots[1].output.path: codec prores cannot be written to a '.mp4' file (use .mov or .mkv)",
         "output.yaml:8:56: shots[2].output.bitrate: give crf or bitrate, not both",
         "output.yaml:10:56: shots[3].output.crf: crf does not apply to codec ffv1 (h264 and hevc only)",
         "output.yaml:12:47: shots[4].output.pix_fmt: pixel format 'rgb24' is not supported with h264 (use yuv420p, yuv422p, yuv444p)",
         "output.yaml:12:63: shots[4].output.bitrate: bad bitrate 'lots' (bits per second, e.g. 8000000, 8M or 800k)",
         "output.yaml:14:20: shots[5].output.path: png output is a directory of frames: drop the '.png' extension",
         "output.yaml:18:20: shots[7].output.path: output path 'out/same.mp4' is also the output of shot 'g' (put {shot} in the template)",
     }},
    {"resources.yaml",
     {
         "resources.yaml:4:27: shots[0].resources.max_gpus: -1 is out of range (allowed: 0 to 4096)",
         "resources.yaml:4:43: shots[0].resources.time_limit: bad time limit '1:2:3:4' (minutes, or Slurm's M:S, H:M:S, D-H, D-H:M, D-H:M:S; at most 366 days)",
         "resources.yaml:4:75: shots[0].resources.qos: invalid qos name 'high prio' (letters, digits, '.', '_', '-', not starting with '.' or '-'; at most 63)",
         "resources.yaml:4:88: shots[0].resources.acount: unknown key 'acount' (did you mean 'account'?)",
         "resources.yaml:6:29: shots[1].resources.time_limit: 0 is out of range (allowed: 1 to 527040)",
         "resources.yaml:7:14: shots[1].notify[0]: webhook 'ftp://***': only http:// and https:// URLs are allowed",
     }},
    {"seed_bad.yaml",
     {
         "seed_bad.yaml:3:19: shots[0].seed: -1 is out of range (allowed: 0 to 9007199254740991)",
         "seed_bad.yaml:4:19: shots[1].seed: expected an integer, got 'sometimes'",
         "seed_bad.yaml:5:19: shots[2].seed: 9007199254740992 is out of range (allowed: 0 to 9007199254740991)",
     }},
    {"syntax.yaml",
     {
         "syntax.yaml:4:10: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at line 3)",
     }},
    {"tabs.yaml",
     {
         "tabs.yaml:3:1: tab character: YAML indentation must use spaces, not tabs",
     }},
    {"top_types.yaml",
     {
         "top_types.yaml:1:11: defaults: expected a mapping, got a list",
         "top_types.yaml:2:8: shots: expected a list, got '5'",
     }},
    {"unknown_alias.yaml",
     {
         "unknown_alias.yaml:3:12: shots[0].model: unknown alias '*tiny' (anchors must be defined, with '&tiny', before use)",
     }},
    {"unknown_keys.yaml",
     {
         "unknown_keys.yaml:1:1: defualts: unknown key 'defualts' (did you mean 'defaults'?)",
         "unknown_keys.yaml:4:5: shots[0]: a shot needs 'prompt' (text) or 'prompt_embeds' (a .safetensors)",
         "unknown_keys.yaml:6:5: shots[0].promt: unknown key 'promt' (did you mean 'prompt'?)",
         "unknown_keys.yaml:7:5: shots[0].widht: unknown key 'widht' (did you mean 'width'?)",
         "unknown_keys.yaml:9:7: shots[0].output.codek: unknown key 'codek' (did you mean 'codec'?)",
         "unknown_keys.yaml:11:7: shots[0].cache.treshold: unknown key 'treshold' (did you mean 'threshold'?)",
         "unknown_keys.yaml:12:5: shots[0].zzzzzz: unknown key 'zzzzzz'",
     }},
    {"wrong_types.yaml",
     {
         "wrong_types.yaml:5:12: shots[0].width: expected an integer, got a quoted string '64'",
         "wrong_types.yaml:6:12: shots[0].steps: expected an integer, got a list",
         "wrong_types.yaml:7:21: shots[0].guidance_scale: expected a number, got 'lots'",
         "wrong_types.yaml:8:13: shots[0].output: expected a mapping, got 'h264'",
         "wrong_types.yaml:9:12: shots[0].after: expected a string or a list of strings, got a mapping",
         "wrong_types.yaml:10:5: shots[1]: expected a mapping, got 'just a string'",
     }},
};

static void subst_data(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = in; *p && o + 1 < cap;) {
        if (strncmp(p, "{DATA}", 6) == 0) {
            o += (size_t)snprintf(out + o, cap - o, "%s", DF_TEST_DATA);
            p += 6;
        } else {
            out[o++] = *p++;
        }
    }
    out[o < cap ? o : cap - 1] = '\0';
}

static void format_short(const struct diag *d, char *out, size_t cap)
{
    const char *base = strrchr(d->file, '/');
    base = base ? base + 1 : d->file;
    if (d->line > 0)
        snprintf(out, cap, "%s:%d:%d: %s%s%s", base, d->line, d->col, d->path,
                 d->path[0] ? ": " : "", d->msg);
    else
        snprintf(out, cap, "%s: %s%s%s", base, d->path, d->path[0] ? ": " : "", d->msg);
}

static void test_bad_corpus(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t c = 0; c < sizeof(k_bad) / sizeof(k_bad[0]); c++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s%s", BAD, k_bad[c].file);
        struct manifest *m = (struct manifest *)1;
        struct diag_list dl = {0};
        struct df_err err = {0};
        int rc = manifest_load(path, CONFIGS, &m, &dl, &err);
        assert_true(rc < 0);
        assert_null(m);
        assert_true(err.msg[0] != '\0');
        size_t n = 0;
        while (n < 16 && k_bad[c].expect[n])
            n++;
        if (dl.count != n || dl.errors != n) {
            fprintf(stderr, "%s: %zu diagnostics (%zu errors), want %zu\n", k_bad[c].file,
                    dl.count, dl.errors, n);
            failures++;
        }
        for (size_t i = 0; i < dl.count; i++) {
            char got[DIAG_LINE_CAP], want[DIAG_LINE_CAP];
            format_short(&dl.items[i], got, sizeof(got));
            subst_data(i < n ? k_bad[c].expect[i] : "(none)", want, sizeof(want));
            if (strcmp(got, want) != 0) {
                fprintf(stderr, "%s[%zu]:\n  got:  %s\n  want: %s\n", k_bad[c].file, i, got, want);
                failures++;
            }
        }
        diag_list_clear(&dl);
    }
    assert_int_equal(failures, 0);
}

/* The corpus file names and the table must agree: a new bad file needs its
 * expected messages. */
static void test_bad_corpus_complete(void **state)
{
    (void)state;
    size_t n = sizeof(k_bad) / sizeof(k_bad[0]);
    assert_true(n >= 33);
    for (size_t c = 0; c < n; c++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s%s", BAD, k_bad[c].file);
        assert_int_equal(access(path, R_OK), 0);
    }
}

static void test_error_codes(void **state)
{
    (void)state;
    struct manifest *m = NULL;
    struct df_err err = {0};
    /* NULL diags is allowed; the summary names the file and the first error. */
    assert_int_equal(manifest_load(BAD "syntax.yaml", CONFIGS, &m, NULL, &err), DF_E_PARSE);
    assert_non_null(strstr(err.msg, "syntax.yaml: 1 error (first: "));
    assert_int_equal(manifest_load(BAD "geometry.yaml", CONFIGS, &m, NULL, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "geometry.yaml: 6 errors"));
    assert_int_equal(manifest_load(BAD "no-such-file.yaml", CONFIGS, &m, NULL, &err),
                     DF_E_NOTFOUND);
    assert_int_equal(manifest_load(DF_TEST_DATA, CONFIGS, &m, NULL, &err), DF_E_IO);
    assert_null(m);
}

/* A 100 MB file is refused from its size, before anything is read. */
static void test_size_cap(void **state)
{
    (void)state;
    char path[] = "/tmp/df_test_manifest_big_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 100L << 20), 0);
    close(fd);
    struct manifest *m = NULL;
    struct diag_list dl = {0};
    struct df_err err = {0};
    assert_int_equal(manifest_load(path, CONFIGS, &m, &dl, &err), DF_E_RANGE);
    unlink(path);
    assert_int_equal(dl.count, 1);
    assert_string_equal(dl.items[0].msg,
                        "cannot read the manifest: file is 104857600 bytes, more than the "
                        "16777216-byte limit");
    diag_list_clear(&dl);
    /* The buffer entry point has the same cap. */
    assert_int_equal(manifest_load_buffer("x.yaml", "", MANIFEST_MAX_BYTES + 1u, CONFIGS, &m,
                                          NULL, &err),
                     DF_E_RANGE);
}

/* Errors from several files can share one list; each load counts its own. */
static void test_diags_accumulate(void **state)
{
    (void)state;
    struct manifest *m = NULL;
    struct diag_list dl = {0};
    struct df_err err = {0};
    assert_true(manifest_load(BAD "seed_bad.yaml", CONFIGS, &m, &dl, &err) < 0);
    assert_true(manifest_load(BAD "tabs.yaml", CONFIGS, &m, &dl, &err) < 0);
    assert_int_equal(dl.count, 4);
    assert_int_equal(dl.errors, 4);
    assert_int_equal(manifest_load(GOOD "good.yaml", CONFIGS, &m, &dl, &err), 0);
    assert_int_equal(dl.errors, 4);
    manifest_free(m);
    diag_list_clear(&dl);
}

/* ---- the good file ----------------------------------------------------------- */

static struct manifest *load_good(const char *file)
{
    struct manifest *m = NULL;
    struct diag_list dl = {0};
    struct df_err err = {0};
    int rc = manifest_load(file, CONFIGS, &m, &dl, &err);
    for (size_t i = 0; i < dl.count; i++) {
        char line[DIAG_LINE_CAP];
        diag_format(&dl.items[i], line, sizeof(line));
        fprintf(stderr, "%s\n", line);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(dl.count, 0);
    diag_list_clear(&dl);
    return m;
}

static void test_good_all_fields(void **state)
{
    (void)state;
    struct manifest *m = load_good(GOOD "good.yaml");
    assert_string_equal(m->name, "good-test");
    assert_int_equal(m->n_shots, 4);
    assert_int_equal(m->n_files, 2);
    /* Included shots come first. */
    const struct shot *b = &m->shots[0];
    assert_string_equal(b->id, "from-base");
    assert_int_equal(b->steps, 8);
    assert_int_equal(b->sampler, SAMPLER_KIND_UNIPC);
    assert_int_equal(b->output.crf, 23);
    assert_true(b->guidance_scale == 6.5); /* the includer's defaults apply too */
    assert_int_equal(b->seed_random, 1);
    assert_true(b->seed < (1ull << 32));

    const struct shot *s = &m->shots[manifest_find_shot(m, "full")];
    assert_string_equal(s->prompt, "text: with a colon");
    assert_string_equal(s->negative_prompt, "blurry");
    assert_string_equal(s->prompt_embeds, DF_TEST_DATA "/manifest/embeds.safetensors");
    assert_string_equal(s->negative_prompt_embeds, DF_TEST_DATA "/manifest/neg_embeds.safetensors");
    assert_string_equal(s->model, "tiny");
    assert_string_equal(s->geom.name, "tiny");
    assert_int_equal(s->width, 64);
    assert_int_equal(s->height, 64);
    assert_int_equal(s->frames, 9);
    assert_int_equal(s->fps, 24);
    assert_int_equal(s->steps, 12);           /* from the <<: *slow template */
    assert_int_equal(s->sampler, SAMPLER_KIND_EULER);
    assert_true(s->guidance_scale == 6.5);
    assert_true(s->flow_shift == 3.5);
    assert_int_equal(s->seed, 1234);
    assert_int_equal(s->seed_random, 0);
    assert_int_equal(s->cache.policy, CACHE_POLICY_PROMPTTEA);
    assert_int_equal(s->cache.mode, CACHE_MODE_E);
    assert_true(s->cache.thresh_lo == 0.1 && s->cache.thresh_hi == 0.3);
    assert_true(s->cache.k == 40 && s->cache.cfg_threshold == 0.03);
    assert_int_equal(s->checkpoint.every_steps, 4);
    assert_int_equal(s->checkpoint.keep, 3);
    assert_string_equal(s->output.path, "out/{manifest}/{shot}-{seed}.mp4");
    assert_int_equal(s->output.codec, CODEC_H264);
    assert_int_equal(s->output.crf, 20);
    assert_string_equal(s->output.pix_fmt, "yuv444p");
    assert_string_equal(s->output.audio, DF_TEST_DATA "/manifest/audio.wav");
    assert_int_equal(s->priority, 5);
    assert_int_equal(s->n_after, 1);
    assert_string_equal(s->after[0], "from-base");
    assert_int_equal(s->n_notify, 1);
    assert_string_equal(s->notify[0], "https://example.com/hook");
    assert_int_equal(s->resources.max_gpus, 8);
    assert_int_equal(s->resources.time_limit_min, 26 * 60 + 30);
    assert_string_equal(s->resources.partition, "gpu"); /* deep merge: from base.yaml */
    assert_string_equal(s->resources.account, "proj");
    assert_string_equal(s->resources.qos, "high");
    assert_int_equal(s->grid.seq_len, 48);
    assert_int_equal(s->line, 14);
    assert_string_equal(s->file, GOOD "good.yaml");
    assert_string_equal(b->file, DF_TEST_DATA "/manifest/base.yaml"); /* the included file */
    assert_int_equal(b->line, 14);

    const struct shot *f = &m->shots[manifest_find_shot(m, "folder-model")];
    assert_string_equal(f->model, DF_TEST_DATA "/manifest/wan-mini");
    assert_string_equal(f->geom.name, "wan-mini");
    assert_int_equal(f->geom.num_layers, 3);
    assert_int_equal(f->geom.hidden, 64);
    assert_int_equal(f->cache.policy, CACHE_POLICY_TEACACHE); /* `cache: teacache` */
    assert_int_equal(f->output.codec, CODEC_PRORES);
    assert_int_equal(f->output.crf, -1);  /* defaults' crf dropped: prores has none */
    assert_string_equal(f->output.pix_fmt, "yuv422p10le");
    assert_int_equal(f->n_after, 2);
    assert_int_equal(f->grid.tokens[0], 5);

    const struct shot *p = &m->shots[manifest_find_shot(m, "png-frames")];
    assert_int_equal(p->output.codec, CODEC_PNG);
    assert_string_equal(p->output.pix_fmt, "rgb24");
    assert_int_equal(p->resources.time_limit_min, 90);
    assert_int_equal(manifest_find_shot(m, "nope"), -1);
    manifest_free(m);
}

static void test_output_path(void **state)
{
    (void)state;
    struct manifest *m = load_good(GOOD "good.yaml");
    char buf[256];
    struct df_err err = {0};
    const struct shot *s = &m->shots[manifest_find_shot(m, "full")];
    assert_int_equal(manifest_output_path(m, s, "2026-11-23", buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "out/good-test/full-1234.mp4");
    assert_int_equal(manifest_output_path(m, s, "2026-11-23", buf, 10, &err), DF_E_RANGE);
    manifest_free(m);
}

static void test_examples_and_demo(void **state)
{
    (void)state;
    struct manifest *m = load_good(DF_SOURCE_DIR "/configs/examples/demo.yaml");
    assert_string_equal(m->name, "demo");
    assert_true(m->n_shots >= 1 && m->n_shots <= 2);
    for (size_t i = 0; i < m->n_shots; i++) {
        assert_string_equal(m->shots[i].model, "tiny");
        assert_int_equal(m->shots[i].frames, 9);
        assert_int_equal(m->shots[i].steps, 8);
        assert_int_equal(m->shots[i].output.codec, CODEC_H264);
        assert_string_equal(m->shots[i].output.path, "out/{manifest}/{shot}.mp4");
    }
    manifest_free(m);
}

/* ---- defaults, anchors, buffers ---------------------------------------------- */

static struct manifest *load_text(const char *text, struct diag_list *dl)
{
    struct manifest *m = NULL;
    struct df_err err = {0};
    manifest_load_buffer("mem.yaml", text, strlen(text), CONFIGS, &m, dl, &err);
    return m;
}

static void test_deep_merge_and_null(void **state)
{
    (void)state;
    struct diag_list dl = {0};
    struct manifest *m = load_text("defaults:\n"
                                   "  model: tiny\n"
                                   "  width: 64\n"
                                   "  output: {codec: hevc, crf: 30, pix_fmt: yuv420p10le}\n"
                                   "shots:\n"
                                   "  - {id: a, prompt: p, height: 64, frames: 9,\n"
                                   "     output: {crf: 25}}\n"
                                   "  - {id: b, prompt: p, height: 64, frames: 9, width: ~}\n",
                                   &dl);
    assert_int_equal(dl.count, 0);
    assert_non_null(m);
    assert_int_equal(m->shots[0].output.codec, CODEC_HEVC); /* kept from defaults */
    assert_int_equal(m->shots[0].output.crf, 25);           /* overridden */
    assert_string_equal(m->shots[0].output.pix_fmt, "yuv420p10le");
    assert_int_equal(m->shots[1].width, 64); /* null means "the default" */
    assert_string_equal(m->name, "mem");
    manifest_free(m);
}

static void test_anchor_alias(void **state)
{
    (void)state;
    struct diag_list dl = {0};
    struct manifest *m = load_text("x-size: &size {width: 128, height: 64}\n"
                                   "shots:\n"
                                   "  - &first\n"
                                   "    <<: *size\n"
                                   "    id: a\n"
                                   "    model: tiny\n"
                                   "    prompt: &p shared prompt\n"
                                   "    frames: 13\n"
                                   "  - <<: *first\n"
                                   "    id: b\n"
                                   "    width: 64\n"
                                   "  - {id: c, model: tiny, prompt: *p, frames: 9, <<: [*size]}\n",
                                   &dl);
    assert_int_equal(dl.count, 0);
    assert_non_null(m);
    assert_int_equal(m->n_shots, 3);
    assert_int_equal(m->shots[0].width, 128);
    assert_int_equal(m->shots[1].width, 64);
    assert_int_equal(m->shots[1].height, 64);
    assert_int_equal(m->shots[1].frames, 13);
    assert_string_equal(m->shots[2].prompt, "shared prompt");
    assert_int_equal(m->shots[2].width, 128);
    manifest_free(m);
}

/* A random seed is drawn once at load, and the normalized JSON records it. */
static void test_json_round_trip(void **state)
{
    (void)state;
    struct manifest *m = load_good(GOOD "good.yaml");
    cJSON *j = manifest_to_json(m);
    assert_non_null(j);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    assert_non_null(text);
    char path[] = "/tmp/df_test_manifest_json_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    free(text);
    struct manifest *m2 = load_good(path);
    unlink(path);
    assert_string_equal(m2->name, m->name);
    assert_int_equal(m2->n_shots, m->n_shots);
    for (size_t i = 0; i < m->n_shots; i++) {
        assert_string_equal(m2->shots[i].id, m->shots[i].id);
        assert_int_equal(m2->shots[i].seed, m->shots[i].seed);
        assert_int_equal(m2->shots[i].seed_random, 0);
        assert_int_equal(manifest_shot_hash(&m2->shots[i]), manifest_shot_hash(&m->shots[i]));
        assert_string_equal(m2->shots[i].output.path, m->shots[i].output.path);
        assert_int_equal(m2->shots[i].output.crf, m->shots[i].output.crf);
        assert_int_equal(m2->shots[i].resources.time_limit_min,
                         m->shots[i].resources.time_limit_min);
    }
    manifest_free(m2);
    manifest_free(m);
}

static void test_shot_hash(void **state)
{
    (void)state;
    const char *base = "shots:\n  - {id: a, model: tiny, prompt: p, width: 64, height: 64, "
                       "frames: 9, seed: 5, steps: 8%s}\n";
    const char *variants[] = {
        "",                                          /* 0: base */
        ", output: {path: 'x/{shot}.mkv'}, priority: 3, notify: 'http://h'", /* 1: same */
        ", checkpoint: {every_steps: 2}, resources: {max_gpus: 2}",          /* 2: same */
        ", steps: 9",                                 /* 3: differs */
        ", seed: 6",                                  /* 4: differs */
        ", cache: teacache",                          /* 5: differs */
        ", prompt: q",                                /* 6: differs */
    };
    uint64_t h[7];
    for (int i = 0; i < 7; i++) {
        char text[512];
        /* later keys would be duplicates: replace instead by building anew */
        snprintf(text, sizeof(text), base, variants[i]);
        char *dup = strstr(text, "seed: 5, steps: 8, seed: 6");
        if (dup)
            memcpy(dup, "steps: 8, seed: 6         ", 26);
        char *dup2 = strstr(text, "steps: 8, steps: 9");
        if (dup2)
            memcpy(dup2, "steps: 9          ", 18);
        char *dup3 = strstr(text, "prompt: p,");
        if (i == 6 && dup3)
            memcpy(dup3, "          ", 10);
        struct diag_list dl = {0};
        struct manifest *m = load_text(text, &dl);
        if (!m)
            for (size_t k = 0; k < dl.count; k++)
                fprintf(stderr, "variant %d: %s\n", i, dl.items[k].msg);
        assert_non_null(m);
        h[i] = manifest_shot_hash(&m->shots[0]);
        assert_int_equal(h[i], manifest_shot_hash(&m->shots[0])); /* stable */
        manifest_free(m);
        diag_list_clear(&dl);
    }
    assert_int_equal(h[1], h[0]);
    assert_int_equal(h[2], h[0]);
    for (int i = 3; i < 7; i++)
        assert_int_not_equal(h[i], h[0]);
}

/* ---- enums and helpers ---------------------------------------------------------- */

static void test_enum_names(void **state)
{
    (void)state;
    for (int i = 0; i < SAMPLER_KIND_COUNT; i++) {
        enum sampler_kind s;
        assert_int_equal(sampler_kind_from_name(sampler_kind_name((enum sampler_kind)i), &s, NULL), 0);
        assert_int_equal(s, i);
    }
    for (int i = 0; i < CACHE_POLICY_COUNT; i++) {
        enum cache_policy p;
        assert_int_equal(cache_policy_from_name(cache_policy_name((enum cache_policy)i), &p), 0);
        assert_int_equal(p, i);
    }
    for (int i = 0; i < CACHE_MODE_COUNT; i++) {
        enum cache_mode c;
        assert_int_equal(cache_mode_from_name(cache_mode_name((enum cache_mode)i), &c), 0);
        assert_int_equal(c, i);
    }
    for (int i = 0; i < CODEC_COUNT; i++) {
        enum codec c;
        assert_int_equal(codec_from_name(codec_name((enum codec)i), &c), 0);
        assert_int_equal(c, i);
    }
    enum codec c = CODEC_PNG;
    assert_int_equal(codec_from_name("h265", &c), DF_E_INVAL);
    assert_int_equal(c, CODEC_PNG);
    assert_string_equal(codec_name(CODEC_COUNT), "?");
    assert_string_equal(sampler_kind_name(SAMPLER_KIND_UNIPC), "unipc");
}

static void test_edit_distance(void **state)
{
    (void)state;
    assert_int_equal(ytree_edit_distance("widht", "width", 3), 1);
    assert_int_equal(ytree_edit_distance("codek", "codec", 3), 1);
    assert_int_equal(ytree_edit_distance("", "abc", 5), 3);
    assert_true(ytree_edit_distance("zzzzzz", "width", 2) > 2);
    const char *const cands[] = {"width", "height", "frames", NULL};
    assert_string_equal(ytree_suggest("heigth", cands), "height");
    assert_null(ytree_suggest("qqq", cands));
}

static void test_time_and_bitrate_forms(void **state)
{
    (void)state;
    static const struct {
        const char *tl;
        int minutes;
    } cases[] = {{"30", 30}, {"'30'", 30}, {"'10:30'", 11}, {"'2:00:00'", 120},
                 {"'1-0'", 1440}, {"'1-1:30'", 1530}, {"'0-0:0:1'", 1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[300];
        snprintf(text, sizeof(text),
                 "shots:\n  - {id: a, model: tiny, prompt: p, width: 64, height: 64, frames: 9,"
                 " resources: {time_limit: %s}, output: {bitrate: 2.5M}}\n",
                 cases[i].tl);
        struct diag_list dl = {0};
        struct manifest *m = load_text(text, &dl);
        assert_non_null(m);
        assert_int_equal(m->shots[0].resources.time_limit_min, cases[i].minutes);
        assert_int_equal(m->shots[0].output.bitrate, 2500000);
        assert_int_equal(m->shots[0].output.crf, -1);
        manifest_free(m);
        diag_list_clear(&dl);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_corpus),
        cmocka_unit_test(test_bad_corpus_complete),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_diags_accumulate),
        cmocka_unit_test(test_good_all_fields),
        cmocka_unit_test(test_output_path),
        cmocka_unit_test(test_examples_and_demo),
        cmocka_unit_test(test_deep_merge_and_null),
        cmocka_unit_test(test_anchor_alias),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_shot_hash),
        cmocka_unit_test(test_enum_names),
        cmocka_unit_test(test_edit_distance),
        cmocka_unit_test(test_time_and_bitrate_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
