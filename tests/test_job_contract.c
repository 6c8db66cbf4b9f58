/* test_job_contract.c -- job.json: resolve, write, read back the same shot;
 * the guidance edge case plans what the worker runs; a drawn seed is kept
 * across resolves into one job directory; bad files get clear errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backend_desc.h"
#include "job_contract.h"
#include "jsonfile.h"
#include "manifest.h"
#include "progress_file.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIGS DF_SOURCE_DIR "/configs"

static struct manifest *load_text(const char *yaml)
{
    struct manifest *m = NULL;
    struct df_err err = {0};
    int rc = manifest_load_buffer("t.yaml", yaml, strlen(yaml), CONFIGS, &m, NULL, &err);
    if (rc < 0)
        fail_msg("load: %s", err.msg);
    return m;
}

static const char *k_two = "name: jc\n"
                           "defaults:\n"
                           "  model: tiny\n  width: 64\n  height: 64\n  frames: 9\n  steps: 4\n"
                           "  output:\n    path: \"out/{manifest}/{shot}-{date}.mp4\"\n"
                           "shots:\n"
                           "  - {id: a, prompt: red, guidance_scale: 5.0, seed: 11}\n"
                           "  - {id: b, prompt: blue, guidance_scale: 1.00000005, seed: random,\n"
                           "     cache: {policy: teacache, threshold: 0.1}}\n";

static void opts_for(struct job_contract_opts *o, int ranks, const char *job_dir)
{
    job_contract_opts_init(o);
    o->cluster = (struct cluster_shape){.nodes = 1, .ranks_per_node = ranks,
                                        .device = LAYOUT_DEVICE_CPU, .use_all = 1};
    o->date = "2026-12-05";
    o->configs_dir = CONFIGS;
    o->job_dir = job_dir;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct manifest *m = load_text(k_two);
    struct job_contract_opts o;
    opts_for(&o, 2, NULL);
    struct job_contract jc, back;
    struct df_err err = {0};
    assert_int_equal(job_contract_resolve(m, &m->shots[0], &o, &jc, &err), 0);
    assert_true(jc.guided);
    assert_true(jc.planned);
    assert_int_equal(jc.lay.world, 2);
    assert_string_equal(jc.backend, "cpu");
    assert_string_equal(jc.output, "out/jc/a-2026-12-05.mp4");
    assert_int_equal(jc.hash, manifest_shot_hash(&m->shots[0]));

    char path[] = "/tmp/df_test_job_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(job_contract_write(&jc, path, &err), 0);
    assert_int_equal(job_contract_read(path, &back, &err), 0);
    /* the worker reads the very shot the controller resolved */
    assert_int_equal(back.hash, jc.hash);
    assert_string_equal(back.shot.id, "a");
    assert_string_equal(back.shot.prompt, "red");
    assert_int_equal(back.shot.seed, 11);
    assert_int_equal(back.shot.sampler, m->shots[0].sampler);
    assert_memory_equal(&back.shot.grid, &m->shots[0].grid, sizeof(back.shot.grid));
    assert_string_equal(back.shot.geom.path, m->shots[0].geom.path);
    assert_int_equal(back.lay.cfg, jc.lay.cfg);
    assert_int_equal(back.lay.ulysses, jc.lay.ulysses);
    assert_int_equal(back.lay.ring, jc.lay.ring);
    assert_string_equal(back.output, jc.output);
    assert_string_equal(back.configs_dir, CONFIGS);
    job_contract_free(&back);
    job_contract_free(&jc);
    unlink(path);
    manifest_free(m);
}

/* output.root: the root of the list the output lies under (by whole
 * components, trailing slashes dropped) is recorded and read back; none
 * recorded when no root holds it or none was given. */
static void test_output_root(void **state)
{
    (void)state;
    struct manifest *m = load_text(k_two);
    struct job_contract_opts o;
    opts_for(&o, 1, NULL);
    struct job_contract jc, back;
    struct df_err err = {0};
    o.output = "/r1/x/a.mp4";
    o.output_roots = "/nope:/r1/";
    assert_int_equal(job_contract_resolve(m, &m->shots[0], &o, &jc, &err), 0);
    assert_string_equal(jc.output_root, "/r1");
    char path[] = "/tmp/df_test_job_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(job_contract_write(&jc, path, &err), 0);
    assert_int_equal(job_contract_read(path, &back, &err), 0);
    assert_string_equal(back.output_root, "/r1");
    job_contract_free(&back);
    job_contract_free(&jc);
    o.output = "/r1x/a.mp4";
    o.output_roots = "/r1";
    assert_int_equal(job_contract_resolve(m, &m->shots[0], &o, &jc, &err), 0);
    assert_string_equal(jc.output_root, "");
    job_contract_free(&jc);
    o.output_roots = NULL;
    assert_int_equal(job_contract_resolve(m, &m->shots[0], &o, &jc, &err), 0);
    assert_string_equal(jc.output_root, "");
    assert_int_equal(job_contract_write(&jc, path, &err), 0);
    assert_int_equal(job_contract_read(path, &back, &err), 0);
    assert_string_equal(back.output_root, "");
    job_contract_free(&back);
    job_contract_free(&jc);
    unlink(path);
    manifest_free(m);
}

/* 1.00000005 is 1.0f: the worker combines in float, so the shot is unguided
 * and the plan must not give it two cfg groups. */
static void test_guidance_edge(void **state)
{
    (void)state;
    struct manifest *m = load_text(k_two);
    const struct shot *b = &m->shots[1];
    assert_false(shot_guided(b));
    struct job_contract_opts o;
    opts_for(&o, 2, NULL);
    struct job_contract jc;
    struct df_err err = {0};
    assert_int_equal(job_contract_resolve(m, b, &o, &jc, &err), 0);
    assert_false(jc.guided);
    assert_int_equal(jc.lay.cfg, 1);
    assert_int_equal(jc.lay.cfg_branches, 1);
    job_contract_free(&jc);
    manifest_free(m);
}

/* `seed: random` is drawn once: a second resolve into the same job
 * directory (a second sbatch, the daemon after a restart) keeps it. */
static void test_seed_kept(void **state)
{
    (void)state;
    char dir[] = "/tmp/df_test_jobdir_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, JOB_CONTRACT_FILE);
    struct df_err err = {0};
    struct job_contract_opts o;
    opts_for(&o, 1, dir);
    struct manifest *m1 = load_text(k_two);
    struct job_contract first, second;
    assert_int_equal(job_contract_resolve(m1, &m1->shots[1], &o, &first, &err), 0);
    assert_true(first.shot.seed_random);
    assert_int_equal(job_contract_write(&first, path, &err), 0);
    /* the second load draws another seed; the job directory wins */
    struct manifest *m2 = load_text(k_two);
    uint64_t drawn = m2->shots[1].seed;
    for (int i = 0; i < 8 && drawn == first.shot.seed; i++) {
        manifest_free(m2);
        m2 = load_text(k_two);
        drawn = m2->shots[1].seed;
    }
    assert_int_not_equal(drawn, first.shot.seed);
    assert_int_equal(job_contract_resolve(m2, &m2->shots[1], &o, &second, &err), 0);
    assert_int_equal(second.shot.seed, first.shot.seed);
    assert_int_equal(second.hash, first.hash);
    job_contract_free(&first);
    job_contract_free(&second);
    manifest_free(m1);
    manifest_free(m2);
    unlink(path);
    rmdir(dir);
}

static void expect_parse_error(const char *text, int code, const char *needle)
{
    struct job_contract jc;
    struct df_err err = {0};
    assert_int_equal(job_contract_parse("job.json", text, strlen(text), &jc, &err), code);
    if (!strstr(err.msg, needle))
        fail_msg("'%s' does not say '%s'", err.msg, needle);
}

static void test_bad_files(void **state)
{
    (void)state;
    expect_parse_error("{", DF_E_PARSE, "not valid JSON");
    expect_parse_error("[]", DF_E_INVAL, "not a job");
    expect_parse_error("{\"ditfarm_job\": 99}", DF_E_UNSUPPORTED, "version 99");
    expect_parse_error("{\"ditfarm_job\": 1}", DF_E_INVAL, "missing key 'manifest'");
    /* a real contract with one value broken */
    struct manifest *m = load_text(k_two);
    struct job_contract_opts o;
    opts_for(&o, 2, NULL);
    struct job_contract jc;
    struct df_err err = {0};
    assert_int_equal(job_contract_resolve(m, &m->shots[0], &o, &jc, &err), 0);
    cJSON *j = job_contract_to_json(&jc);
    cJSON *shot = cJSON_GetObjectItem(j, "shot");
    cJSON_ReplaceItemInObject(shot, "steps", cJSON_CreateNumber(-3));
    char *text = cJSON_PrintUnformatted(j);
    expect_parse_error(text, DF_E_INVAL, "'steps' must be a number in 1..10000");
    cJSON_free(text);
    cJSON_ReplaceItemInObject(shot, "steps", cJSON_CreateNumber(4));
    cJSON *lay = cJSON_GetObjectItem(j, "layout");
    cJSON_ReplaceItemInObject(lay, "world", cJSON_CreateNumber(3));
    text = cJSON_PrintUnformatted(j);
    expect_parse_error(text, DF_E_INVAL, "layout.world 3");
    cJSON_free(text);
    cJSON_Delete(j);
    job_contract_free(&jc);
    manifest_free(m);
}

static void test_progress_file(void **state)
{
    (void)state;
    char path[] = "/tmp/df_test_progress_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct progress_file p = {.shot = "s1", .state = "running", .step = 3, .steps = 8,
                              .seconds_per_step = 1.5, .eta_s = 7.5, .cache_computed = 4,
                              .cache_skipped = 2, .last_ckpt_step = 2, .updated = 1234},
                         q;
    struct df_err err = {0};
    assert_int_equal(progress_file_write(path, &p, &err), 0);
    assert_int_equal(progress_file_read(path, &q, &err), 0);
    assert_string_equal(q.shot, "s1");
    assert_string_equal(q.state, "running");
    assert_int_equal(q.step, 3);
    assert_int_equal(q.steps, 8);
    assert_true(q.eta_s == 7.5);
    assert_int_equal(q.last_ckpt_step, 2);
    assert_true(progress_file_hit_rate(&q) > 0.33 && progress_file_hit_rate(&q) < 0.34);
    unlink(path);
    assert_int_equal(progress_file_read(path, &q, &err), DF_E_NOTFOUND);
}

/* The backend table the controller plans with (lib/backend_desc.h). */
static void test_backend_desc(void **state)
{
    (void)state;
    const struct backend_desc *cpu = backend_desc_find("cpu");
    assert_non_null(cpu);
    assert_int_equal(cpu->mem, BACKEND_MEM_HOST);
    assert_int_equal(cpu->device, LAYOUT_DEVICE_CPU);
    assert_null(backend_desc_find("metal"));
    assert_string_equal(backend_desc_default(LAYOUT_DEVICE_GPU), "cuda");
    assert_string_equal(backend_desc_default(LAYOUT_DEVICE_CPU), "cpu");
    char names[64];
    backend_desc_names(names, sizeof(names));
    assert_string_equal(names, "cpu, cuda");
    for (int i = 0; i < backend_desc_count(); i++)
        assert_ptr_equal(backend_desc_find(backend_desc_at(i)->name), backend_desc_at(i));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_output_root),
        cmocka_unit_test(test_guidance_edge),
        cmocka_unit_test(test_seed_kept),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_progress_file),
        cmocka_unit_test(test_backend_desc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
