/*
 * job_contract.h -- one shot, resolved completely by the controller, for the
 * worker: the contract between `ditfarm render`/`sbatch`/ditfarmd and
 * `ditfarm-worker render --job`.  The worker reads only this; it never
 * re-parses the manifest or needs to agree with the controller on a rule.
 *
 * On disk it is <job_dir>/job.json (JOB_CONTRACT_FILE), written atomically.
 * Format version 1 (JOB_CONTRACT_VERSION; keys are never renamed, new keys may
 * appear, a reader refuses a larger version):
 *
 *   ditfarm_job   1
 *   manifest      {name}                      {manifest} in templates
 *   shot          the normalized shot (manifest_shot_to_json: id, prompts and
 *                 embeddings paths, width, height, frames, fps, steps,
 *                 guidance_scale, sampler, flow_shift, seed, cache, checkpoint,
 *                 output, resources, ..., x-grid, x-geometry, x-hash)
 *   model         {name, dir, geometry}       the weights folder and its shape
 *   guided        shot_guided(): true = two CFG branches
 *   sampler       {name, steps, shift}
 *   seed          the seed, drawn once (seed_drawn: true when `random`)
 *   layout        {cfg, ulysses, ring, world, nodes, ranks_per_node, device}
 *                 the planned layout, or null: plan for whatever world the
 *                 worker gets (a worker run by hand)
 *   cache         {policy, configs_dir}       step-cache policy and where its
 *                 calibration tables are looked up
 *   output        {path, date, root}          path resolved from the template;
 *                 root (optional, since format 1; null/absent: none) the
 *                 output root the controller confined path under: the worker
 *                 walks from it without following links before it writes
 *   backend       kern backend name ("cpu", "cuda")
 *   job_dir       absolute job directory (ckpt/, progress.json), or null
 *   hash          manifest_shot_hash() of the shot, hex (checkpoint identity)
 *
 *     struct job_contract_opts o;
 *     job_contract_opts_init(&o);
 *     o.cluster = (struct cluster_shape){.nodes = 1, .ranks_per_node = 4};
 *     o.date = "2026-11-23"; o.job_dir = "/jobs/m/s1"; o.configs_dir = "/ditfarm/configs";
 *     struct job_contract jc;
 *     if (job_contract_resolve(m, &m->shots[i], &o, &jc, &err) < 0) ...
 *     job_contract_write(&jc, "/jobs/m/s1/job.json", &err);
 *     job_contract_free(&jc);
 *     // on the compute node:
 *     job_contract_read("/jobs/m/s1/job.json", &jc, &err);
 */
#ifndef DF_JOB_CONTRACT_H
#define DF_JOB_CONTRACT_H

#include "err.h"
#include "layout.h"
#include "manifest.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define JOB_CONTRACT_VERSION 1
#define JOB_CONTRACT_FILE "job.json"
/* job.json files larger than this are refused before parsing */
#define JOB_CONTRACT_MAX_BYTES (4u << 20)

/* What the controller knows beyond the manifest. */
struct job_contract_opts {
    struct cluster_shape cluster; /* what the shot may run on; nodes == 0: no plan (the
                                     worker plans for the world it gets).  cfg_branches,
                                     cfg_together and max_ranks come from the shot */
    const char *backend;          /* kern backend; NULL: "cuda" on GPUs, "cpu" on CPU ranks */
    const char *date;             /* YYYY-MM-DD for {date}; NULL: today (UTC) */
    const char *configs_dir;      /* configs directory (step-cache calibration); NULL: "" */
    const char *job_dir;          /* job directory, NULL: none.  When <job_dir>/job.json
                                     exists and drew the shot's seed, that seed is kept */
    const char *output;           /* NULL: the shot's output template, resolved */
    const char *output_roots;     /* ':'-separated roots outputs were confined under
                                     (paths_confine_any); NULL: none recorded */
};

struct job_contract {
    int version;             /* JOB_CONTRACT_VERSION */
    char manifest[128];      /* the manifest's name */
    struct shot shot;        /* the resolved shot; owns its strings (job_contract_free) */
    int guided;              /* shot_guided(&shot) */
    int planned;             /* 1: lay holds the controller's plan; 0: none */
    struct layout lay;       /* the planned layout (when planned) */
    enum layout_device device; /* what it was planned for (when planned) */
    char backend[32];        /* kern backend name */
    char date[16];           /* YYYY-MM-DD */
    char output[PATH_MAX];   /* the output path, template resolved */
    char output_root[PATH_MAX]; /* the root output lies under; "" when none */
    char configs_dir[PATH_MAX]; /* "" when none */
    char job_dir[PATH_MAX];  /* "" when none */
    uint64_t hash;           /* manifest_shot_hash(&shot) */
};

void job_contract_opts_init(struct job_contract_opts *o);

/* Resolve shot `s` of manifest `m`: copy it (seed kept from an existing
 * job.json in o->job_dir when both drew it), plan it for o->cluster, resolve
 * the output path.  Returns 0 and *out (free with job_contract_free), or the
 * planner's error / DF_E_RANGE / DF_E_NOMEM (prefixed with the shot id). */
int job_contract_resolve(const struct manifest *m, const struct shot *s,
                         const struct job_contract_opts *o, struct job_contract *out,
                         struct df_err *err);

/* When s drew its seed (`seed: random`) and <job_dir>/job.json holds the
 * seed an earlier resolve drew for the same shot, take that one into s: a
 * second sbatch into the job directory, or the daemon after a restart, keeps
 * the seed its checkpoints were made with.  job.json is the authority; a
 * missing or unreadable one changes nothing. */
void job_contract_keep_seed(const char *job_dir, struct shot *s);

/* Plan `s` on cluster c (cfg_branches, cfg_together and max_ranks set from
 * the shot): the one planning call of `ditfarm plan`, sbatch, the daemon and
 * job_contract_resolve.  Returns 0 or the planner's error. */
int job_contract_plan(const struct shot *s, const struct cluster_shape *c, struct layout *out,
                      int out_cap, int *n_out, struct df_err *err);

/* The contract as a cJSON tree (caller frees with cJSON_Delete); NULL when
 * out of memory. */
struct cJSON *job_contract_to_json(const struct job_contract *jc);

/* Write it to `path` atomically.  Returns 0 or DF_E_IO/DF_E_NOMEM. */
int job_contract_write(const struct job_contract *jc, const char *path, struct df_err *err);

/* Read `path` / parse `text` (`name` stands for the file in messages).
 * Every key is checked (type, range); errors name the file and key.
 * Returns 0 and *out (free with job_contract_free), DF_E_PARSE for bad JSON,
 * DF_E_INVAL for a bad value, DF_E_UNSUPPORTED for a newer version. */
int job_contract_read(const char *path, struct job_contract *out, struct df_err *err);
int job_contract_parse(const char *name, const char *text, size_t len, struct job_contract *out,
                       struct df_err *err);

/* Free what *jc owns and zero it; a zeroed contract is fine. */
void job_contract_free(struct job_contract *jc);

#endif /* DF_JOB_CONTRACT_H */
