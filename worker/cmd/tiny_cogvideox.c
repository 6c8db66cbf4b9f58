/*
 * tiny_cogvideox.c -- the tiny CogVideoX folder of make-tiny (tiny_cogvideox.h).
 *
 * The transformer's tensors come from cogvideox_weights_foreach over the
 * config written here (the loader's own list).  The VAE decoder's names
 * follow cogvideox_vae_load.c's load_weights (the loader has no listing
 * call); the render test loading this folder keeps the two in step.  The
 * encoder half of the VAE is left out: the render only decodes.
 */
#include "tiny_cogvideox.h"

#include "cogvideox_config.h"
#include "cogvideox_weights.h"
#include "noise.h"
#include "paths.h"
#include "safetensors.h"
#include "t5_synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_DIM 32 /* the T5's d_model = the transformer's text_embed_dim */
#define MAX_TENSORS 256

static const char k_transformer[] =
    "{\n  \"_class_name\": \"CogVideoXTransformer3DModel\",\n  \"activation_fn\": "
    "\"gelu-approximate\",\n  \"attention_bias\": true,\n  \"attention_head_dim\": 16,\n"
    "  \"flip_sin_to_cos\": true,\n  \"freq_shift\": 0,\n  \"in_channels\": 4,\n"
    "  \"max_text_seq_length\": 226,\n  \"norm_elementwise_affine\": true,\n"
    "  \"norm_eps\": 1e-05,\n  \"num_attention_heads\": 2,\n  \"num_layers\": 2,\n"
    "  \"ofs_embed_dim\": null,\n  \"out_channels\": 4,\n  \"patch_bias\": true,\n"
    "  \"patch_size\": 2,\n  \"patch_size_t\": null,\n  \"sample_frames\": 49,\n"
    "  \"sample_height\": 8,\n  \"sample_width\": 12,\n  \"spatial_interpolation_scale\": 1.875,\n"
    "  \"temporal_compression_ratio\": 4,\n  \"temporal_interpolation_scale\": 1.0,\n"
    "  \"text_embed_dim\": 32,\n  \"time_embed_dim\": 16,\n  \"timestep_activation_fn\": "
    "\"silu\",\n"
    "  \"use_learned_positional_embeddings\": false,\n"
    "  \"use_rotary_positional_embeddings\": true,\n"
    "  \"_ditfarm\": \"synthetic demo weights (ditfarm-worker make-tiny --family cogvideox)\"\n}\n";

/* block_out_channels [8, 16, 16]: decoder levels 16, 16, 8 */
static const int k_vae_ch[3] = {8, 16, 16};
#define VAE_LAYERS 1
#define VAE_Z 4
static const char k_vae[] =
    "{\n  \"_class_name\": \"AutoencoderKLCogVideoX\",\n  \"act_fn\": \"silu\",\n"
    "  \"block_out_channels\": [8, 16, 16],\n  \"down_block_types\": [\"CogVideoXDownBlock3D\", "
    "\"CogVideoXDownBlock3D\", \"CogVideoXDownBlock3D\"],\n  \"force_upcast\": true,\n"
    "  \"in_channels\": 3,\n  \"invert_scale_latents\": false,\n  \"latent_channels\": 4,\n"
    "  \"layers_per_block\": 1,\n  \"norm_eps\": 1e-06,\n  \"norm_num_groups\": 4,\n"
    "  \"out_channels\": 3,\n  \"sample_height\": 48,\n  \"sample_width\": 64,\n"
    "  \"scaling_factor\": 0.7,\n  \"temporal_compression_ratio\": 4,\n"
    "  \"up_block_types\": [\"CogVideoXUpBlock3D\", \"CogVideoXUpBlock3D\", "
    "\"CogVideoXUpBlock3D\"],\n  \"use_post_quant_conv\": false,\n  \"use_quant_conv\": false\n}\n";

static const char k_scheduler[] =
    "{\n  \"_class_name\": \"CogVideoXDPMScheduler\",\n  \"beta_end\": 0.012,\n"
    "  \"beta_schedule\": \"scaled_linear\",\n  \"beta_start\": 0.00085,\n"
    "  \"clip_sample\": false,\n  \"num_train_timesteps\": 1000,\n"
    "  \"prediction_type\": \"v_prediction\",\n  \"rescale_betas_zero_snr\": true,\n"
    "  \"set_alpha_to_one\": true,\n  \"snr_shift_scale\": 1.0,\n  \"steps_offset\": 0,\n"
    "  \"timestep_spacing\": \"trailing\"\n}\n";

static const char k_index[] =
    "{\n  \"_class_name\": \"CogVideoXPipeline\",\n"
    "  \"scheduler\": [\"diffusers\", \"CogVideoXDPMScheduler\"],\n"
    "  \"text_encoder\": [\"transformers\", \"T5EncoderModel\"],\n"
    "  \"tokenizer\": [\"transformers\", \"T5Tokenizer\"],\n"
    "  \"transformer\": [\"diffusers\", \"CogVideoXTransformer3DModel\"],\n"
    "  \"vae\": [\"diffusers\", \"AutoencoderKLCogVideoX\"]\n}\n";

static int write_text(const char *dir, const char *leaf, const char *text, struct df_err *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, leaf);
    DF_TRY(paths_mkdirs_for(path, err));
    FILE *f = fopen(path, "w");
    int bad = !f || fputs(text, f) < 0;
    if (f)
        bad |= fclose(f) != 0;
    DF_FAIL_IF(bad, err, DF_E_IO, "cannot write %s", path);
    return 0;
}

/* The tensors of one file, filled as they are listed. */
struct tlist {
    struct safetensors_entry e[MAX_TENSORS];
    float *buf[MAX_TENSORS];
    char names[MAX_TENSORS][128];
    int n;
    uint64_t seed, offset;
};

/* Noise scaled by 1/sqrt(fan-in) for matrices and kernels, small for
 * biases, 1 + small for norm weights. */
static int add(const char *name, int ndim, const int64_t *shape, void *ctx)
{
    struct tlist *t = ctx;
    if (t->n >= MAX_TENSORS)
        return DF_E_RANGE;
    size_t numel = 1, fan = 1;
    for (int i = 0; i < ndim; i++)
        numel *= (size_t)shape[i], fan *= i ? (size_t)shape[i] : 1;
    float *b = malloc(numel * sizeof *b);
    if (!b)
        return DF_E_NOMEM;
    noise_fill(t->seed, t->offset, numel, b);
    t->offset += numel;
    int norm = ndim == 1 && strstr(name, "norm") && strstr(name, ".weight");
    float scale = ndim > 1 ? 1.0f / sqrtf((float)fan) : 0.1f;
    for (size_t i = 0; i < numel; i++)
        b[i] = (norm ? 1.0f : 0.0f) + scale * b[i];
    snprintf(t->names[t->n], sizeof t->names[0], "%s", name);
    struct safetensors_entry *e = &t->e[t->n];
    *e = (struct safetensors_entry){
        .name = t->names[t->n], .dtype = SAFETENSORS_DTYPE_F32, .ndim = ndim, .data = b};
    memcpy(e->shape, shape, (size_t)ndim * sizeof *shape);
    t->buf[t->n++] = b;
    return 0;
}

static void drop(struct tlist *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->buf[i]);
    t->n = 0;
}

/* Write the listed tensors to path (or nothing when listing failed: no
 * partial file) and drop them. */
static int flush(struct tlist *t, int list_rc, const char *what, const char *path,
                 struct df_err *err)
{
    int rc = list_rc < 0 ? df_err_set(err, list_rc, "tiny cogvideox: listing %s: %s", what,
                                      list_rc == DF_E_NOMEM ? "out of memory" : "too many tensors")
                         : safetensors_write(path, t->e, t->n, NULL, 0, err);
    drop(t);
    return rc;
}

static int transformer(const char *dir, uint64_t seed, struct tlist *t, struct df_err *err)
{
    char sub[4200], path[4400];
    snprintf(sub, sizeof sub, "%s/transformer", dir);
    DF_TRY(write_text(sub, "config.json", k_transformer, err));
    struct cogvideox_config c;
    snprintf(path, sizeof path, "%s/config.json", sub);
    DF_TRY(cogvideox_config_load(path, &c, err));
    t->seed = seed ^ 0x636f6700000000ull, t->offset = 0;
    int rc = cogvideox_weights_foreach(&c, add, t);
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", sub);
    return flush(t, rc, "the transformer", path, err);
}

/* ---- the VAE decoder (names as cogvideox_vae_load.c reads them) ---------- */

static int conv(struct tlist *t, const char *prefix, int cin, int cout, int kt, int k)
{
    char name[160];
    const int64_t s5[5] = {cout, cin, kt, k, k}, s4[4] = {cout, cin, k, k}, sb[1] = {cout};
    snprintf(name, sizeof name, "%s.weight", prefix);
    DF_TRY(add(name, kt ? 5 : 4, kt ? s5 : s4, t));
    snprintf(name, sizeof name, "%s.bias", prefix);
    return add(name, 1, sb, t);
}

static int snorm(struct tlist *t, const char *prefix, int c)
{
    char name[160];
    const int64_t s[1] = {c};
    snprintf(name, sizeof name, "%s.norm_layer.weight", prefix);
    DF_TRY(add(name, 1, s, t));
    snprintf(name, sizeof name, "%s.norm_layer.bias", prefix);
    DF_TRY(add(name, 1, s, t));
    snprintf(name, sizeof name, "%s.conv_y.conv", prefix);
    DF_TRY(conv(t, name, VAE_Z, c, 1, 1));
    snprintf(name, sizeof name, "%s.conv_b.conv", prefix);
    return conv(t, name, VAE_Z, c, 1, 1);
}

static int resnet(struct tlist *t, const char *prefix, int cin, int cout)
{
    char name[160];
    snprintf(name, sizeof name, "%s.norm1", prefix);
    DF_TRY(snorm(t, name, cin));
    snprintf(name, sizeof name, "%s.conv1.conv", prefix);
    DF_TRY(conv(t, name, cin, cout, 3, 3));
    snprintf(name, sizeof name, "%s.norm2", prefix);
    DF_TRY(snorm(t, name, cout));
    snprintf(name, sizeof name, "%s.conv2.conv", prefix);
    DF_TRY(conv(t, name, cout, cout, 3, 3));
    snprintf(name, sizeof name, "%s.conv_shortcut", prefix);
    return cin == cout ? 0 : conv(t, name, cin, cout, 1, 1);
}

static int vae_tensors(struct tlist *t)
{
    const int n = 3;
    int rc[3];
    for (int i = 0; i < n; i++)
        rc[i] = k_vae_ch[n - 1 - i];
    char name[160];
    DF_TRY(conv(t, "decoder.conv_in.conv", VAE_Z, rc[0], 3, 3));
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "decoder.mid_block.resnets.%d", i);
        DF_TRY(resnet(t, name, rc[0], rc[0]));
    }
    for (int i = 0, prev = rc[0]; i < n; prev = rc[i], i++) {
        for (int j = 0; j < VAE_LAYERS + 1; j++) {
            snprintf(name, sizeof name, "decoder.up_blocks.%d.resnets.%d", i, j);
            DF_TRY(resnet(t, name, j == 0 ? prev : rc[i], rc[i]));
        }
        snprintf(name, sizeof name, "decoder.up_blocks.%d.upsamplers.0.conv", i);
        if (i != n - 1)
            DF_TRY(conv(t, name, rc[i], rc[i], 0, 3));
    }
    DF_TRY(snorm(t, "decoder.norm_out", rc[n - 1]));
    return conv(t, "decoder.conv_out.conv", rc[n - 1], 3, 3, 3);
}

static int vae(const char *dir, uint64_t seed, struct tlist *t, struct df_err *err)
{
    char sub[4200], path[4400];
    snprintf(sub, sizeof sub, "%s/vae", dir);
    DF_TRY(write_text(sub, "config.json", k_vae, err));
    t->seed = seed ^ 0x7661650000000000ull, t->offset = 0;
    int rc = vae_tensors(t);
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", sub);
    return flush(t, rc, "the VAE", path, err);
}

int tiny_cogvideox_write(const char *dir, uint64_t seed, struct df_err *err)
{
    struct tlist *t = calloc(1, sizeof *t);
    DF_FAIL_IF(!t, err, DF_E_NOMEM, "out of memory");
    int rc = transformer(dir, seed, t, err);
    if (rc == 0)
        rc = vae(dir, seed, t, err);
    free(t);
    if (rc == 0)
        rc = write_text(dir, "scheduler/scheduler_config.json", k_scheduler, err);
    if (rc == 0)
        rc = write_text(dir, "model_index.json", k_index, err);
    return rc < 0 ? rc : t5_synth_write_kind(dir, TEXT_DIM, 1, seed, err);
}
