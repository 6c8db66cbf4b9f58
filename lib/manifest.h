/*
 * manifest.h -- render manifests: a YAML file of shots, parsed into typed,
 * validated C structs (the schema is docs/manifest.md).
 *
 * Loading reads the file (and its `include:`s), merges `defaults:` into every
 * shot, checks every value (types, ranges, model geometry, files, duplicate ids,
 * dependency cycles) and draws the random seeds.  Every problem found goes to
 * the diagnostics list, each with file:line:col and key path; err gets a
 * summary.  A manifest that loads is complete: no field is left "unset".
 *
 *     struct manifest *m = NULL;
 *     struct diag_list dl = {0};
 *     struct df_err err = {0};
 *     if (manifest_load("shots.yaml", configs_dir, &m, &dl, &err) < 0) {
 *         ... print dl (see diag.h), or err.msg when dl is empty ...
 *     }
 *     for (size_t i = 0; i < m->n_shots; i++)
 *         plan(&m->shots[i], &m->shots[i].geom);
 *     manifest_free(m);
 *     diag_list_clear(&dl);
 *
 * Normalized form: manifest_to_json() writes the manifest with defaults
 * applied, seeds resolved and file paths absolute.  That JSON is itself a valid
 * manifest (keys starting with "x-" are ignored by the loader; the JSON puts
 * computed facts such as the latent grid there), so a job directory can carry
 * it and a worker can load it again to get the same shots.
 */
#ifndef DF_MANIFEST_H
#define DF_MANIFEST_H

#include "diag.h"
#include "err.h"
#include "model_geom.h"

#include <stddef.h>
#include <stdint.h>

/* Files larger than this are refused before parsing. */
#define MANIFEST_MAX_BYTES (16u << 20)
/* Deepest nesting of mappings/sequences accepted. */
#define MANIFEST_MAX_DEPTH 64
/* Most `include:` levels (cycles are refused whatever the depth). */
#define MANIFEST_MAX_INCLUDE_DEPTH 8

/* ---- enums (names are the YAML spellings) --------------------------------- */

/* One enum and one name table per concept; the worker's sampler uses the
 * same enum.  NULL-terminated name tables, indexed by the enum. */
enum sampler_kind {
    SAMPLER_KIND_EULER, /* "euler": FlowMatchEulerDiscreteScheduler */
    SAMPLER_KIND_UNIPC, /* "unipc": UniPCMultistepScheduler, flow sigmas (Wan's default) */
    SAMPLER_KIND_COGVIDEOX_DDIM, /* "cogvideox_ddim": CogVideoXDDIMScheduler (CogVideoX-2B) */
    SAMPLER_KIND_COGVIDEOX_DPM,  /* "cogvideox_dpm": CogVideoXDPMScheduler (5B; draws noise) */
    SAMPLER_KIND_COUNT
};
extern const char *const sampler_kind_names[];
/* "euler", "unipc"; "?" out of range. */
const char *sampler_kind_name(enum sampler_kind k);
/* 0, or DF_E_INVAL naming the choices when `name` is no sampler (*out untouched). */
int sampler_kind_from_name(const char *name, enum sampler_kind *out, struct df_err *err);

enum cache_policy {
    CACHE_POLICY_OFF,
    CACHE_POLICY_TEACACHE,  /* TeaCache: fixed threshold on the accumulated rel-L1 */
    CACHE_POLICY_PROMPTTEA, /* PromptTea: threshold from prompt complexity + CFG cache */
    CACHE_POLICY_COUNT
};
extern const char *const cache_policy_names[];
const char *cache_policy_name(enum cache_policy p);
int cache_policy_from_name(const char *name, enum cache_policy *out);

enum cache_mode {
    CACHE_MODE_E,  /* compare the time embedding e */
    CACHE_MODE_E0, /* compare the 6-way modulation e0 ("retention" mode) */
    CACHE_MODE_COUNT
};
extern const char *const cache_mode_names[];
const char *cache_mode_name(enum cache_mode m);
int cache_mode_from_name(const char *name, enum cache_mode *out);

enum codec {
    CODEC_H264,
    CODEC_HEVC,
    CODEC_PRORES,
    CODEC_FFV1,
    CODEC_PNG, /* a numbered PNG sequence */
    CODEC_COUNT
};
extern const char *const codec_names[];
const char *codec_name(enum codec c);
int codec_from_name(const char *name, enum codec *out);

/* ---- one shot ------------------------------------------------------------- */

struct shot_cache {
    enum cache_policy policy;
    double threshold;     /* teacache: skip while the accumulated rel-L1 < threshold */
    enum cache_mode mode; /* e or e0 */
    double thresh_lo;     /* prompttea: tau for complex prompts */
    double thresh_hi;     /* prompttea: tau for simple prompts */
    double k;             /* prompttea: sigmoid steepness */
    double cfg_threshold; /* prompttea: CFG-cache threshold (0 disables the CFG cache) */
};

struct shot_checkpoint {
    int every_steps;      /* 0: not by step count */
    double every_minutes; /* 0: not by time */
    int keep;             /* newest checkpoints kept per shot, >= 1 */
};

struct shot_output {
    char *path;        /* template with {shot} {seed} {manifest} {date}; see manifest_output_path */
    enum codec codec;
    int crf;           /* -1 when bitrate is used */
    int64_t bitrate;   /* bits/s, 0 when crf is used */
    char pix_fmt[32];  /* FFmpeg pixel format name ("yuv420p") */
    char *audio;       /* absolute path of an audio track to mux, NULL for none */
};

struct shot_resources {
    int max_gpus;          /* 0: let the planner choose */
    int time_limit_min;    /* 0: partition default */
    char partition[64];    /* "" for the cluster default; same for account, qos */
    char account[64];
    char qos[64];
};

struct shot {
    char *id;                     /* unique within the manifest; [A-Za-z0-9_.-], <= 63 chars */
    char *prompt;                 /* NULL when only embeddings are given */
    char *negative_prompt;        /* "" when none */
    char *prompt_embeds;          /* absolute path of a .safetensors, or NULL */
    char *negative_prompt_embeds; /* absolute path, or NULL */
    char *model;                  /* as written: a configs/models name or a path */
    struct model_geom geom;       /* resolved geometry of `model` */
    int width, height, frames, fps, steps;
    double guidance_scale;
    int dynamic_cfg;         /* CogVideoXPipeline's use_dynamic_cfg: the scale follows the timestep */
    enum sampler_kind sampler;
    double flow_shift;
    uint64_t seed;   /* always resolved */
    int seed_random; /* 1 when the manifest said `random` and the loader drew it */
    struct shot_cache cache;
    struct shot_checkpoint checkpoint;
    struct shot_output output;
    int priority; /* higher runs first */
    char **after; /* ids of shots that must finish first; n_after entries */
    size_t n_after;
    char **notify; /* webhook URLs; n_notify entries */
    size_t n_notify;
    struct shot_resources resources;
    struct model_grid grid; /* the token grid for width/height/frames */
    int line, col;          /* where the shot starts, in `file` */
    const char *file;       /* the manifest file that defines it (owned by the manifest) */
};

/* 1 when the shot runs classifier-free guidance (two branches): its scale,
 * as the worker combines it (float), is above 1.  The one rule the planner,
 * the batch script, the step cache and the worker all use, so a scale such
 * as 1.00000005 (1.0f in float) plans and runs the same unguided shot. */
int shot_guided(const struct shot *s);

/* ---- the manifest --------------------------------------------------------- */

struct manifest {
    char *path; /* as given to manifest_load */
    char *name; /* `name:` or the file's basename without extension: {manifest} */
    char *dir;  /* absolute directory of the file: relative paths resolve here */
    struct shot *shots;
    size_t n_shots;
    char **files; /* every file read (the manifest and its includes), n_files */
    size_t n_files;
};

/* Load and validate `path`.  `configs_dir` is where models/<name>.yaml live
 * (see paths_configs_dir); `diags` may be NULL.  Returns 0 and a manifest the
 * caller frees with manifest_free, or a negative code with *out = NULL: then
 * `diags` holds every problem found, in reading order, and err a summary
 * ("shots.yaml: 3 errors (first: ...)").  Diagnostics are appended: one list
 * can collect several files.  DF_E_IO/DF_E_NOTFOUND when the file cannot be
 * read, DF_E_RANGE when it is over MANIFEST_MAX_BYTES, DF_E_PARSE for YAML
 * errors, DF_E_INVAL for schema errors.  Random seeds are drawn here; the
 * rest is deterministic. */
int manifest_load(const char *path, const char *configs_dir, struct manifest **out,
                  struct diag_list *diags, struct df_err *err);

/* Same, from a buffer; `name` stands for the file in messages and relative
 * paths resolve against the current directory. (Used by the fuzzer.) */
int manifest_load_buffer(const char *name, const char *data, size_t len, const char *configs_dir,
                         struct manifest **out, struct diag_list *diags, struct df_err *err);

/* Free a manifest and everything it owns; NULL is fine. */
void manifest_free(struct manifest *m);

/* Index of the shot with this id, or -1. */
int manifest_find_shot(const struct manifest *m, const char *id);

/* Expand shot->output.path: {shot}, {seed}, {manifest}, {date} (date as
 * YYYY-MM-DD, given by the caller so a job keeps one date across requeues).
 * Returns 0, or DF_E_RANGE when dst_cap is too small. */
int manifest_output_path(const struct manifest *m, const struct shot *s, const char *date,
                         char *dst, size_t dst_cap, struct df_err *err);

/* Rewrite, in place, every diagnostic attached to a key that names a file
 * (model, prompt_embeds, negative_prompt_embeds, output.audio, include) and
 * every diagnostic located in a file other than own_file (an include): its
 * message may quote that file (`model: /etc/shadow` shows its first line),
 * so it becomes a fixed sentence; file, line and column stay.  For replies
 * to clients who do not share the reader's rights (ditfarmd, the HTTP API;
 * docs/security.md).  NULL dl is fine. */
void manifest_diags_redact(struct diag_list *dl, const char *own_file);

/* ---- normalized form ------------------------------------------------------ */

/* The normalized manifest as a cJSON tree (cJSON *), caller frees with
 * cJSON_Delete.  NULL when out of memory.  Declared as void * so that this
 * header does not pull in cJSON. */
void *manifest_to_json(const struct manifest *m);

/* One shot in normalized form (same keys as in manifest_to_json). */
void *manifest_shot_to_json(const struct shot *s);

/* A stable 64-bit hash (FNV-1a) of what determines a shot's latents: model
 * geometry, prompts and embeddings paths, size, frames, steps, guidance,
 * sampler, shift, seed and cache settings.  Output, notify, priority,
 * resources and checkpoint settings are left out, so changing them does not
 * invalidate a checkpoint.  Returns the hash (never fails). */
uint64_t manifest_shot_hash(const struct shot *s);

#endif /* DF_MANIFEST_H */
