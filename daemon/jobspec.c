/* jobspec.c -- job directory, batch script and sbatch call of one shot (see jobspec.h). */
#include "jobspec.h"
#include "backend_desc.h"
#include "job_contract.h"
#include "jsonfile.h"
#include "worker_exit.h"
#include "paths.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const char sbatch_template[]; /* generated from slurm/shot.sbatch.in */

void jobspec_opts_init(struct jobspec_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->worker = "ditfarm-worker";
}

int jobspec_add_worker_arg(struct jobspec_opts *o, const char *arg, struct df_err *err)
{
    /* single-quote for the batch shell; a quote inside becomes '\'' */
    char *w = o->worker_args;
    size_t cap = sizeof(o->worker_args), len = strlen(w);
    len += (size_t)snprintf(w + len, cap - len, " '");
    for (const char *c = arg; *c && len + 5 < cap; c++)
        len += (size_t)snprintf(w + len, cap - len, "%s", *c == '\'' ? "'\\''" : (char[]){*c, 0});
    if (len + 2 >= cap)
        return df_err_set(err, DF_E_RANGE, "worker arguments too long (%zu bytes at most)", cap);
    snprintf(w + len, cap - len, "'");
    return 0;
}

/* ---- template ------------------------------------------------------------ */

struct tvar {
    const char *name;
    char value[1024];
};

/* Expand @NAME@ from vars; an unknown or empty name leaves the '@' as is
 * (the script itself contains "USR1@<seconds>"). */
static int expand(const char *tpl, const struct tvar *vars, int n_vars, FILE *out)
{
    for (const char *p = tpl; *p;) {
        if (*p == '@') {
            const char *end = strchr(p + 1, '@');
            int matched = 0;
            for (int i = 0; end && i < n_vars; i++) {
                size_t len = strlen(vars[i].name);
                if ((size_t)(end - p - 1) == len && strncmp(p + 1, vars[i].name, len) == 0) {
                    fputs(vars[i].value, out);
                    p = end + 1;
                    matched = 1;
                    break;
                }
            }
            if (matched)
                continue;
        }
        fputc(*p++, out);
    }
    return ferror(out) ? -1 : 0;
}

static void set_var(struct tvar *v, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_var(struct tvar *v, const char *name, const char *fmt, ...)
{
    va_list ap;
    v->name = name;
    va_start(ap, fmt);
    vsnprintf(v->value, sizeof(v->value), fmt, ap);
    va_end(ap);
}

/* ---- files ----------------------------------------------------------------- */

static int write_manifest_json(const struct manifest *m, const char *path, struct df_err *err)
{
    cJSON *j = manifest_to_json(m);
    DF_FAIL_IF(!j, err, DF_E_NOMEM, "out of memory writing %s", path);
    int rc = jsonfile_write(path, j, err);
    cJSON_Delete(j);
    return rc;
}

/* ---- one shot ------------------------------------------------------------ */

struct cluster_shape jobspec_cluster(const struct jobspec_opts *o)
{
    struct cluster_shape c = {.nodes = 1, .ranks_per_node = 8};
    if (o->gpus)
        c.ranks_per_node = o->gpus;
    if (o->nodes)
        c.nodes = o->nodes, c.ranks_per_node = o->per_node;
    if (o->cpu_ranks)
        c.device = LAYOUT_DEVICE_CPU, c.ranks_per_node = o->cpu_ranks;
    return c;
}

int jobspec_plan(const struct jobspec_opts *o, const struct shot *s, struct layout *out,
                 struct df_err *err)
{
    struct cluster_shape c = jobspec_cluster(o);
    int n = 0;
    int rc = job_contract_plan(s, &c, out, 1, &n, err);
    if (rc < 0)
        df_err_prefix(err, "shot %s", s->id);
    return rc;
}

/* #SBATCH lines that depend on the shot: GPUs, time, partition, account, qos. */
static void sbatch_extra(const struct shot *s, int gpu, const struct layout *l, char *dst,
                         size_t cap)
{
    size_t e = 0;
    dst[0] = '\0';
    if (gpu)
        e += (size_t)snprintf(dst + e, cap - e, "#SBATCH --gpus-per-node=%d\n", l->ranks_per_node);
    if (s->resources.time_limit_min > 0)
        e += (size_t)snprintf(dst + e, cap - e, "#SBATCH --time=%d\n", s->resources.time_limit_min);
    if (s->resources.partition[0])
        e += (size_t)snprintf(dst + e, cap - e, "#SBATCH --partition=%s\n", s->resources.partition);
    if (s->resources.account[0])
        e += (size_t)snprintf(dst + e, cap - e, "#SBATCH --account=%s\n", s->resources.account);
    if (s->resources.qos[0])
        snprintf(dst + e, cap - e, "#SBATCH --qos=%s\n", s->resources.qos);
}

/* The template variables every batch script of shot `s` (or of an array led
 * by it) shares: resources, layout, worker.  Returns how many it set. */
static int fill_vars(const struct jobspec_opts *o, const struct manifest *m, const struct shot *s,
                     const struct layout *l, const char *date, struct tvar *v)
{
    int gpu = !o->cpu_ranks, n = 0;
    char desc[256];
    layout_describe(l, desc, sizeof(desc));
    set_var(&v[n++], "MANIFEST", "%s", m->name);
    set_var(&v[n++], "LAYOUT", "%s; %.1f%% padding", desc, l->pad_pct);
    set_var(&v[n++], "NODES", "%d", l->nodes);
    set_var(&v[n++], "TASKS_PER_NODE", "%d", l->ranks_per_node);
    set_var(&v[n++], "CPUS_PER_TASK", "%d", o->cpus_per_task ? o->cpus_per_task : gpu ? 4 : 1);
    /* the warning must come while there is time left to checkpoint: at most
     * half the time limit */
    int grace = o->grace_s ? o->grace_s : 120;
    if (s->resources.time_limit_min > 0 && grace > s->resources.time_limit_min * 30)
        grace = s->resources.time_limit_min * 30;
    set_var(&v[n++], "GRACE", "%d", grace);
    set_var(&v[n++], "WORKER", "%s", o->worker);
    set_var(&v[n++], "DATE", "%s", date);
    set_var(&v[n++], "BACKEND", "%s",
            o->backend ? o->backend
                       : backend_desc_default(gpu ? LAYOUT_DEVICE_GPU : LAYOUT_DEVICE_CPU));
    v[n].name = "SBATCH_EXTRA";
    sbatch_extra(s, gpu, l, v[n++].value, sizeof(v[0].value));
    set_var(&v[n++], "WORKER_ARGS", "%s", o->worker_args);
    /* the exit codes the script tells apart, from the one header */
    set_var(&v[n++], "EXIT_DONE", "%d", WORKER_EXIT_DONE);
    set_var(&v[n++], "EXIT_CHECKPOINTED", "%d", WORKER_EXIT_CHECKPOINTED);
    set_var(&v[n++], "EXIT_RETRY", "%d", WORKER_EXIT_RETRY);
    set_var(&v[n++], "DONE_SUFFIX", "%s", WORKER_DONE_SUFFIX);
    return n;
}

static int write_script(const char *path, const struct tvar *v, int n, struct df_err *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return df_err_errno(err, DF_E_IO, "cannot write %s", path);
    int rc = expand(sbatch_template, v, n, f);
    if (fclose(f) != 0 || rc < 0)
        return df_err_errno(err, DF_E_IO, "cannot write %s", path);
    chmod(path, 0755);
    return 0;
}

/* <dir>/job.json: the shot resolved for the worker (lib/job_contract.h). */
static int write_contract(const struct jobspec_opts *o, const struct manifest *m,
                          const struct shot *s, const char *date, struct jobspec *job,
                          struct df_err *err)
{
    struct job_contract_opts co;
    job_contract_opts_init(&co);
    co.cluster = jobspec_cluster(o);
    co.backend = o->backend;
    co.date = date;
    co.configs_dir = o->configs_dir;
    co.job_dir = job->dir;
    struct job_contract jc;
    DF_TRY(job_contract_resolve(m, s, &co, &jc, err));
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/%s", job->dir, JOB_CONTRACT_FILE);
    int rc = job_contract_write(&jc, path, err);
    job->lay = jc.lay;
    job_contract_free(&jc);
    return rc;
}

int jobspec_write(const struct jobspec_opts *o, const struct manifest *m, const struct shot *s,
                  const char *date, const char *jobs_dir, struct jobspec *job, struct df_err *err)
{
    DF_TRY(jobspec_plan(o, s, &job->lay, err));
    const struct layout *l = &job->lay;
    char jobs_abs[PATH_MAX];
    DF_TRY(paths_mkdirs(jobs_dir, err));
    if (!realpath(jobs_dir, jobs_abs))
        return df_err_errno(err, DF_E_IO, "cannot resolve %s", jobs_dir);
    snprintf(job->dir, sizeof(job->dir), "%.2000s/%.1000s/%.500s", jobs_abs, m->name, s->id);
    char sub[PATH_MAX + 16];
    snprintf(sub, sizeof(sub), "%s/logs", job->dir);
    DF_TRY(paths_mkdirs(sub, err));
    snprintf(sub, sizeof(sub), "%s/ckpt", job->dir);
    DF_TRY(paths_mkdirs(sub, err));
    snprintf(sub, sizeof(sub), "%s/manifest.json", job->dir);
    DF_TRY(write_manifest_json(m, sub, err));
    DF_TRY(write_contract(o, m, s, date, job, err));

    char setup[PATH_MAX + 128], log[PATH_MAX + 32];
    snprintf(setup, sizeof(setup), "shot='%s'\njob_dir='%s'", s->id, job->dir);
    snprintf(log, sizeof(log), "%s/logs/slurm-%%j.out", job->dir);
    struct tvar v[24];
    int n = fill_vars(o, m, s, l, date, v);
    set_var(&v[n++], "WHAT", "shot %s", s->id);
    set_var(&v[n++], "JOB_NAME", "df-%s-%s", m->name, s->id);
    set_var(&v[n++], "SHOT_SETUP", "%s", setup);
    set_var(&v[n++], "LOG", "%s", log);
    snprintf(job->script, sizeof(job->script), "%s/job.sbatch", job->dir);
    return write_script(job->script, v, n, err);
}

int jobspec_array_key(const struct jobspec_opts *o, const struct manifest *m, const struct shot *s,
                      const struct layout *l, char *dst, size_t cap)
{
    struct tvar v[24];
    int n = fill_vars(o, m, s, l, "", v);
    size_t len = 0;
    for (int i = 0; i < n && len < cap; i++)
        if (strcmp(v[i].name, "LAYOUT") != 0)
            len += (size_t)snprintf(dst + len, cap - len, "%s=%s;", v[i].name, v[i].value);
    return len < cap ? 0 : -1;
}

int jobspec_write_array(const struct jobspec_opts *o, const struct manifest *m,
                        const struct shot *const *shots, const struct jobspec *jobs, int n_shots,
                        int throttle, const char *date, char *script, size_t script_cap,
                        struct df_err *err)
{
    DF_FAIL_IF(n_shots < 1, err, DF_E_INVAL, "an array job needs at least one shot");
    /* every member's job dir sits in <jobs>/<manifest>/ */
    char base[PATH_MAX];
    snprintf(base, sizeof(base), "%s", jobs[0].dir);
    char *slash = strrchr(base, '/');
    DF_FAIL_IF(!slash, err, DF_E_INVAL, "job dir %s has no parent", jobs[0].dir);
    *slash = '\0';
    char logs[PATH_MAX + 16];
    snprintf(logs, sizeof(logs), "%s/logs", base);
    DF_TRY(paths_mkdirs(logs, err));
    struct tvar v[24];
    int n = fill_vars(o, m, shots[0], &jobs[0].lay, date, v);
    set_var(&v[n++], "WHAT", "%d shots (a job array)", n_shots);
    set_var(&v[n++], "JOB_NAME", "df-%s-array", m->name);
    /* the shot of this task comes from SLURM_ARRAY_TASK_ID */
    size_t len = (size_t)snprintf(v[n].value, sizeof(v[0].value), "shot_list=(");
    for (int i = 0; i < n_shots && len < sizeof(v[0].value); i++)
        len += (size_t)snprintf(v[n].value + len, sizeof(v[0].value) - len, "%s'%s'",
                                i ? " " : "", shots[i]->id);
    len += (size_t)snprintf(v[n].value + len, sizeof(v[0].value) - len,
                            ")\nshot=${shot_list[${SLURM_ARRAY_TASK_ID:?}]}\njob_dir='%s'/\"$shot\"",
                            base);
    DF_FAIL_IF(len >= sizeof(v[0].value), err, DF_E_RANGE,
               "too many shots for one array script (%d)", n_shots);
    v[n++].name = "SHOT_SETUP";
    set_var(&v[n++], "LOG", "%s/slurm-%%A_%%a.out", logs);
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].name, "SBATCH_EXTRA") == 0) {
            size_t e = strlen(v[i].value);
            if (throttle > 0)
                snprintf(v[i].value + e, sizeof(v[0].value) - e, "#SBATCH --array=0-%d%%%d\n",
                         n_shots - 1, throttle);
            else
                snprintf(v[i].value + e, sizeof(v[0].value) - e, "#SBATCH --array=0-%d\n",
                         n_shots - 1);
        }
    int w = snprintf(script, script_cap, "%s/array-%s.sbatch", base, shots[0]->id);
    DF_FAIL_IF(w < 0 || (size_t)w >= script_cap, err, DF_E_RANGE, "array script path too long");
    return write_script(script, v, n, err);
}

/* ---- submission ------------------------------------------------------------ */

void jobspec_submit_cmd(const char *deps, const char *script, char *dst, size_t cap)
{
    snprintf(dst, cap, "sbatch --parsable %s '%s'", deps, script);
}

int jobspec_submit_parse(const char *script, int status, int timed_out, char *out, char *id,
                         size_t id_cap, struct df_err *err)
{
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    if (timed_out)
        return df_err_set(err, DF_E_SLURM, "sbatch %s: no answer in time%s%s", script,
                          n ? ": " : "", out);
    /* a job id is digits, then ";cluster" on federated setups */
    if (status != 0 || n == 0 || strspn(out, "0123456789;") != n || out[0] == ';')
        return df_err_set(err, DF_E_SLURM, "sbatch %s: %s", script,
                          n ? out : "failed with no output (is Slurm installed?)");
    char *semi = strchr(out, ';'); /* "id;cluster" on federated setups */
    if (semi)
        *semi = '\0';
    snprintf(id, id_cap, "%s", out);
    return 0;
}

int jobspec_submit(const char *deps, const char *script, char *id, size_t id_cap,
                   struct df_err *err)
{
    char cmd[PATH_MAX * 2];
    jobspec_submit_cmd(deps, script, cmd, sizeof(cmd) - 8);
    strcat(cmd, " 2>&1");
    FILE *p = popen(cmd, "r");
    if (!p)
        return df_err_errno(err, DF_E_SLURM, "cannot run sbatch");
    char out[2048] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return jobspec_submit_parse(script, status, 0, out, id, id_cap, err);
}

void jobspec_find_worker(const char *given, char *dst, size_t cap)
{
    if (given) {
        if (!realpath(given, dst))
            snprintf(dst, cap, "%s", given);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            const char *cands[] = {"%s/ditfarm-worker", "%s/../worker/ditfarm-worker"};
            for (size_t i = 0; i < 2; i++) {
                char path[PATH_MAX + 32];
                int len = snprintf(path, sizeof(path), cands[i], self);
                if (len > 0 && (size_t)len < sizeof(path) && access(path, X_OK) == 0 &&
                    realpath(path, dst))
                    return;
            }
        }
    }
    snprintf(dst, cap, "ditfarm-worker");
}
