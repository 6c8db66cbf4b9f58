/* test_sidecar.c -- worker/render/sidecar.c: JSON content, checksums (file and PNG
 * directory), exact 64-bit seeds, atomic write and its failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"
#include "sidecar.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const cJSON *get(const cJSON *j, const char *dotted)
{
    char key[128];
    snprintf(key, sizeof(key), "%s", dotted);
    const cJSON *at = j;
    for (char *save, *k = strtok_r(key, ".", &save); k; k = strtok_r(NULL, ".", &save))
        at = cJSON_GetObjectItemCaseSensitive(at, k);
    if (!at)
        fail_msg("missing key %s", dotted);
    return at;
}

static void test_path(void **state)
{
    (void)state;
    char p[64];
    struct df_err err = {0};
    assert_int_equal(sidecar_path("out/s1.mp4", p, sizeof(p), &err), 0);
    assert_string_equal(p, "out/s1.mp4.json");
    assert_int_equal(sidecar_path("out/seq/", p, sizeof(p), &err), 0);
    assert_string_equal(p, "out/seq.json");
    assert_int_equal(sidecar_path("a-very-long-name.mp4", p, 8, &err), DF_E_RANGE);
}

static void test_file_sidecar(void **state)
{
    (void)state;
    char dir[] = "/tmp/df_sidecar_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char out[128], js[160];
    snprintf(out, sizeof(out), "%s/s1.mp4", dir);
    snprintf(js, sizeof(js), "%s/s1.mp4.json", dir);
    put(out, "abc");
    struct sidecar_cache_stat cache[] = {{"cond", 30, 20}, {"uncond", 28, 22}};
    struct sidecar_timing tim[] = {{"denoise", 12.5}, {"encode", 0.25}};
    struct encode_result er = {.frames = 81, .has_audio = 1, .audio_copied = 0,
                               .encoder = "libx264", .container = "mp4", .pix_fmt = "yuv420p"};
    struct sidecar_info si = {
        .shot = "s1", .seed = UINT64_MAX, .prompt = "a fox \"quoted\"", .model = "wan2.1-t2v-1.3b",
        .weights_hash = "00ff", .layout = {2, 2, 1, 4}, .steps = 50, .sampler = "unipc",
        .width = 832, .height = 480, .fps_num = 16, .fps_den = 1, .codec = "h264", .encode = &er,
        .audio_source = "/a.wav", .cache = cache, .n_cache = 2, .timings = tim, .n_timings = 2,
        .started = 1700000000, .finished = 1700000100,
    };
    struct df_err err = {0};
    assert_int_equal(sidecar_write(out, &si, &err), 0);
    char *text = slurp(js);
    /* the seed is written as exact digits, not a rounded double */
    assert_non_null(strstr(text, "18446744073709551615"));
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    assert_int_equal(get(j, "sidecar_version")->valueint, 1);
    assert_string_equal(get(j, "shot")->valuestring, "s1");
    assert_string_equal(get(j, "prompt")->valuestring, "a fox \"quoted\"");
    assert_string_equal(get(j, "model.name")->valuestring, "wan2.1-t2v-1.3b");
    assert_string_equal(get(j, "model.weights_fingerprint")->valuestring, "00ff");
    assert_int_equal(get(j, "layout.cfg")->valueint, 2);
    assert_int_equal(get(j, "layout.world")->valueint, 4);
    assert_int_equal(get(j, "steps")->valueint, 50);
    assert_string_equal(get(j, "sampler")->valuestring, "unipc");
    assert_int_equal(get(j, "video.frames")->valueint, 81);
    assert_string_equal(get(j, "video.fps")->valuestring, "16/1");
    assert_string_equal(get(j, "video.encoder")->valuestring, "libx264");
    assert_string_equal(get(j, "video.audio.mode")->valuestring, "aac");
    assert_string_equal(get(j, "video.audio.source")->valuestring, "/a.wav");
    const cJSON *c1 = cJSON_GetArrayItem(get(j, "cache"), 1);
    assert_string_equal(cJSON_GetObjectItem(c1, "branch")->valuestring, "uncond");
    assert_int_equal(cJSON_GetObjectItem(c1, "skipped")->valueint, 22);
    assert_true(get(j, "timings_s.denoise")->valuedouble == 12.5);
    assert_string_equal(get(j, "output.file")->valuestring, "s1.mp4");
    assert_int_equal(get(j, "output.bytes")->valueint, 3);
    assert_string_equal(get(j, "output.sha256")->valuestring,
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(get(j, "output.checksum_of")->valuestring, "file");
    assert_string_equal(get(j, "started")->valuestring, "2023-11-14T22:13:20Z");
    assert_string_not_equal(get(j, "ditfarm_version")->valuestring, "");
    cJSON_Delete(j);
    free(text);
    char tmp[200];
    snprintf(tmp, sizeof(tmp), "%s/.s1.mp4.json.part", dir);
    assert_int_equal(access(tmp, F_OK), -1);
    unlink(js);
    unlink(out);
    rmdir(dir);
}

/* A PNG directory hashes as its files concatenated in name order. */
static void test_dir_checksum(void **state)
{
    (void)state;
    char dir[] = "/tmp/df_sidecar_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char seq[128], p[200];
    snprintf(seq, sizeof(seq), "%s/seq", dir);
    mkdir(seq, 0777);
    snprintf(p, sizeof(p), "%s/frame_00001.png", seq);
    put(p, "bc");
    snprintf(p, sizeof(p), "%s/frame_00000.png", seq);
    put(p, "a");
    char hex[65];
    uint64_t bytes = 0;
    struct df_err err = {0};
    assert_int_equal(sidecar_checksum(seq, hex, &bytes, &err), 1);
    assert_int_equal(bytes, 3);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    struct sidecar_info si = {.shot = "seq", .fps_num = 16, .fps_den = 1};
    assert_int_equal(sidecar_write(seq, &si, &err), 0);
    snprintf(p, sizeof(p), "%s/seq.json", dir);
    char *text = slurp(p);
    cJSON *j = cJSON_Parse(text);
    assert_string_equal(get(j, "output.checksum_of")->valuestring, "frames in name order");
    assert_true(cJSON_IsNull(get(j, "video.audio")));
    assert_true(cJSON_IsNull(get(j, "started")));
    assert_true(cJSON_IsNull(get(j, "prompt")));
    cJSON_Delete(j);
    free(text);
    unlink(p);
    snprintf(p, sizeof(p), "%s/frame_00000.png", seq);
    unlink(p);
    snprintf(p, sizeof(p), "%s/frame_00001.png", seq);
    unlink(p);
    rmdir(seq);
    rmdir(dir);
}

static void test_errors(void **state)
{
    (void)state;
    struct df_err err = {0};
    struct sidecar_info si = {.shot = "x"};
    assert_int_equal(sidecar_write("/nonexistent-dir/x.mp4", &si, &err), DF_E_NOTFOUND);
    assert_string_equal(err.msg, "sidecar: output '/nonexistent-dir/x.mp4': No such file or "
                                 "directory");
    /* output present, directory not writable as a file target: the sidecar
     * path is taken by a directory, so the rename fails and nothing is left */
    char dir[] = "/tmp/df_sidecar_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char out[128], js[160], tmp[200];
    snprintf(out, sizeof(out), "%s/v.mkv", dir);
    snprintf(js, sizeof(js), "%s/v.mkv.json", dir);
    snprintf(tmp, sizeof(tmp), "%s/.v.mkv.json.part", dir);
    put(out, "x");
    mkdir(js, 0777);
    put(strcat(strcpy((char[200]){0}, js), "/keep"), "k");
    assert_int_equal(sidecar_write(out, &si, &err), DF_E_IO);
    char want[300];
    snprintf(want, sizeof(want), "sidecar: write '%s': Is a directory", js);
    assert_string_equal(err.msg, want);
    assert_int_equal(access(tmp, F_OK), -1);
    char keep[200];
    snprintf(keep, sizeof(keep), "%s/keep", js);
    unlink(keep);
    rmdir(js);
    unlink(out);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_file_sidecar),
        cmocka_unit_test(test_dir_checksum),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
