/* test_model_folder.c -- lib/model_folder.c through `ditfarm validate`'s loader.
 *
 * A scratch diffusers folder (tests/data/manifest/wan-mini plus parts) is
 * validated by manifest_load: parts that do not fit are refused naming both
 * numbers (VAE latent channels, encoder d_model, in != out channels); a text
 * prompt on a folder without tokenizer/ + text_encoder/ is refused unless
 * embeddings files cover every branch; the scheduler config gives sampler and
 * flow_shift when the manifest leaves them out, and the manifest wins when it
 * sets them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "manifest.h"
#include "model_folder.h"

struct scratch {
    char root[64];   /* mkdtemp */
    char model[128]; /* root/model: the folder */
};

static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static void put(const struct scratch *s, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", s->model, rel);
    sh("mkdir -p \"$(dirname '%s')\"", path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    struct scratch *s = calloc(1, sizeof *s);
    snprintf(s->root, sizeof s->root, "/tmp/test_model_folder_XXXXXX");
    assert_non_null(mkdtemp(s->root));
    snprintf(s->model, sizeof s->model, "%s/model", s->root);
    sh("cp -r '%s/manifest/wan-mini' '%s'", DF_TEST_DATA, s->model);
    sh("rm -rf '%s/text_encoder' '%s/tokenizer'", s->model, s->model);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct scratch *s = *state;
    sh("rm -rf '%s'", s->root);
    free(s);
    return 0;
}

static void add_encoder(const struct scratch *s, int d_model)
{
    char cfg[128];
    snprintf(cfg, sizeof cfg, "{\"model_type\": \"umt5\", \"d_model\": %d}\n", d_model);
    put(s, "text_encoder/config.json", cfg);
    put(s, "tokenizer/tokenizer.json", "{}\n");
}

/* Validate `shot_yaml` (one shot's keys) on the scratch folder: 0 or -1, the
 * first diagnostic in msg, the shot's sampler/flow_shift in *out. */
static int validate(const struct scratch *s, const char *shot_yaml, char *msg, size_t cap,
                    int *sampler, double *flow_shift)
{
    char path[256];
    snprintf(path, sizeof path, "%s/m.yaml", s->root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "shots:\n  - {id: a, model: %s, width: 64, height: 64, frames: 5, %s}\n",
            s->model, shot_yaml);
    fclose(f);
    struct manifest *m = NULL;
    struct diag_list dl = {0};
    struct df_err err = {0};
    int rc = manifest_load(path, DF_SOURCE_DIR "/configs", &m, &dl, &err);
    msg[0] = '\0';
    if (dl.count)
        diag_format(&dl.items[0], msg, cap);
    if (rc == 0) {
        *sampler = (int)m->shots[0].sampler;
        *flow_shift = m->shots[0].flow_shift;
    }
    diag_list_clear(&dl);
    manifest_free(m);
    return rc < 0 ? -1 : 0;
}

#define EXPECT_ERROR(s, yaml, needle)                                                              \
    do {                                                                                           \
        char msg_[DIAG_LINE_CAP];                                                                  \
        int k_;                                                                                    \
        double x_;                                                                                 \
        assert_int_equal(validate(s, yaml, msg_, sizeof msg_, &k_, &x_), -1);                     \
        if (!strstr(msg_, needle))                                                                 \
            fail_msg("'%s' does not say '%s'", msg_, needle);                                      \
    } while (0)

static void test_text_prompt_needs_an_encoder(void **state)
{
    struct scratch *s = *state;
    char msg[DIAG_LINE_CAP];
    int k;
    double x;
    EXPECT_ERROR(s, "prompt: a cat", "has no text encoder (tokenizer/ and text_encoder/)");
    /* guided: the negative prompt needs it too, even with prompt_embeds */
    sh("cp '%s/t5/umt5_a/expected.safetensors' '%s/p.safetensors'", DF_TEST_DATA, s->root);
    EXPECT_ERROR(s, "prompt_embeds: p.safetensors, guidance_scale: 5", "negative, for guidance");
    assert_int_equal(validate(s, "prompt_embeds: p.safetensors, guidance_scale: 1", msg,
                              sizeof msg, &k, &x), 0);
    assert_int_equal(validate(s, "prompt_embeds: p.safetensors, negative_prompt_embeds: "
                                 "p.safetensors", msg, sizeof msg, &k, &x), 0);
    add_encoder(s, 32);
    assert_int_equal(validate(s, "prompt: a cat", msg, sizeof msg, &k, &x), 0);
    assert_true(model_folder_is_demo("tiny"));
    assert_false(model_folder_is_demo("/somewhere/tiny"));
}

static void test_parts_must_fit(void **state)
{
    struct scratch *s = *state;
    add_encoder(s, 48);
    EXPECT_ERROR(s, "prompt: a cat", "text_encoder/config.json d_model 48 != transformer text_dim 32");
    add_encoder(s, 32);
    sh("sed -i 's/\"z_dim\": 16/\"z_dim\": 4/' '%s/vae/config.json'", s->model);
    EXPECT_ERROR(s, "prompt: a cat", "latent channels 4 != transformer/config.json out_channels 16");
    sh("sed -i 's/\"z_dim\": 4/\"z_dim\": 16/' '%s/vae/config.json'", s->model);
    sh("sed -i 's/\"out_channels\": 16/\"out_channels\": 8/' '%s/transformer/config.json'",
       s->model);
    EXPECT_ERROR(s, "prompt: a cat", "in_channels 16 != out_channels 8");
}

static void test_scheduler_defaults(void **state)
{
    struct scratch *s = *state;
    add_encoder(s, 32);
    char msg[DIAG_LINE_CAP];
    int k;
    double x;
    assert_int_equal(validate(s, "prompt: a", msg, sizeof msg, &k, &x), 0);
    assert_int_equal(k, SAMPLER_KIND_UNIPC);
    assert_true(x == 5.0); /* no scheduler/: the manifest's defaults */
    put(s, "scheduler/scheduler_config.json",
        "{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"shift\": 7.5}\n");
    assert_int_equal(validate(s, "prompt: a", msg, sizeof msg, &k, &x), 0);
    assert_int_equal(k, SAMPLER_KIND_EULER);
    assert_true(x == 7.5);
    put(s, "scheduler/scheduler_config.json",
        "{\"_class_name\": \"UniPCMultistepScheduler\", \"flow_shift\": 3.0, \"solver_order\": 2,"
        " \"solver_type\": \"bh2\"}\n");
    assert_int_equal(validate(s, "prompt: a, sampler: euler, flow_shift: 9", msg, sizeof msg, &k,
                              &x), 0);
    assert_int_equal(k, SAMPLER_KIND_EULER); /* the manifest wins */
    assert_true(x == 9.0);
    assert_int_equal(validate(s, "prompt: a", msg, sizeof msg, &k, &x), 0);
    assert_int_equal(k, SAMPLER_KIND_UNIPC);
    assert_true(x == 3.0);
    put(s, "scheduler/scheduler_config.json", "{\"_class_name\": \"UniPCMultistepScheduler\", "
                                              "\"flow_shift\": \"big\"}\n");
    EXPECT_ERROR(s, "prompt: a", "scheduler/scheduler_config.json: key 'flow_shift'");
    put(s, "scheduler/scheduler_config.json", "{not json");
    EXPECT_ERROR(s, "prompt: a", "scheduler_config.json: not a JSON object");

    struct model_folder f;
    struct df_err err = {0};
    put(s, "scheduler/scheduler_config.json",
        "{\"_class_name\": \"UniPCMultistepScheduler\", \"flow_shift\": 3.0, \"solver_order\": 2,"
        " \"solver_type\": \"bh2\", \"timestep_spacing\": \"linspace\", \"lower_order_final\": "
        "true, \"final_sigmas_type\": \"zero\"}\n");
    assert_int_equal(model_folder_read(s->model, &f, &err), 0);
    assert_string_equal(f.sched.sampler, "unipc");
    assert_int_equal(f.sched.solver_order, 2);
    assert_string_equal(f.sched.solver_type, "bh2");
    assert_string_equal(f.sched.timestep_spacing, "linspace");
    assert_int_equal(f.sched.lower_order_final, 1);
    assert_int_equal(f.text_d_model, 32);
    assert_int_equal(f.vae_z_dim, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_text_prompt_needs_an_encoder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parts_must_fit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scheduler_defaults, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
