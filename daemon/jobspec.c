/* jobspec.c -- job directory, batch script and sbatch call of one shot (see jobspec.h). */
#include "jobspec.h"
#include "ident.h"
#include "backend_desc.h"
#include "job_contract.h"
#include "worker_exit.h"
#include "paths.h"
#include "safeio.h"
#include "shellq.h"
#include "subproc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
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
    return shellq_append(arg, o->worker_args, sizeof(o->worker_args), err);
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

/* The jobs root made absolute (created when missing).  Its path goes into
 * #SBATCH lines, which sbatch splits at blanks and reads quotes in: such
 * characters are refused rather than quoted. */
static int jobs_root(const char *jobs_dir, char *abs, struct df_err *err)
{
    DF_TRY(paths_mkdirs(jobs_dir, err));
    if (!realpath(jobs_dir, abs))
        return df_err_errno(err, DF_E_IO, "cannot resolve %s", jobs_dir);
    for (const unsigned char *c = (const unsigned char *)abs; *c; c++)
        DF_FAIL_IF(*c <= ' ' || *c == 0x7f || *c == '\'' || *c == '"' || *c == '\\' ||
                       *c == '%',
                   err, DF_E_INVAL,
                   "jobs directory %.200s has a blank, quote, '%%' or control character "
                   "(Slurm directives cannot carry it): use another --jobs-dir",
                   abs);
    return 0;
}

/* <jobs>/<manifest>/ (or a directory below it) opened without following links. */
static int open_manifest_dir(const char *jobs_abs, const struct manifest *m, const char *sub,
                             int *dfd, struct df_err *err)
{
    DF_TRY(ident_check("manifest name", m->name, err));
    char rel[IDENT_MAX_LEN * 2 + 8];
    snprintf(rel, sizeof(rel), "%s%s%s", m->name, sub[0] ? "/" : "", sub);
    return safeio_mkdirs_at(AT_FDCWD, jobs_abs, rel, 0755, dfd, err);
}

/* JSON text of j into dir_fd/name, atomically and without following links. */
static int write_json_at(int dir_fd, const char *name, const cJSON *j, struct df_err *err)
{
    char *text = j ? cJSON_Print(j) : NULL;
    DF_FAIL_IF(!text, err, DF_E_NOMEM, "out of memory writing %s", name);
    size_t n = strlen(text);
    text[n] = '\n'; /* the NUL is not written */
    int rc = safeio_write_at(dir_fd, name, text, n + 1, 0644, err);
    cJSON_free(text);
    return rc;
}

int jobspec_write_manifest(struct manifest *m, const char *jobs_dir, struct df_err *err)
{
    char jobs_abs[PATH_MAX];
    int dfd;
    DF_TRY(jobs_root(jobs_dir, jobs_abs, err));
    DF_TRY(open_manifest_dir(jobs_abs, m, "", &dfd, err));
    /* job.json is the authority on a drawn seed: take the kept ones first, so
     * manifest.json and every job.json written after it agree */
    for (size_t i = 0; i < m->n_shots; i++) {
        struct shot *s = &m->shots[i];
        if (!s->seed_random || !s->id || ident_check("shot id", s->id, NULL) < 0)
            continue;
        char dir[PATH_MAX + IDENT_MAX_LEN * 2 + 8];
        snprintf(dir, sizeof(dir), "%s/%s/%s", jobs_abs, m->name, s->id);
        job_contract_keep_seed(dir, s);
    }
    cJSON *j = manifest_to_json(m);
    int rc = write_json_at(dfd, "manifest.json", j, err);
    cJSON_Delete(j);
    if (rc < 0)
        df_err_prefix(err, "%s/%s", jobs_abs, m->name);
    close(dfd);
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

/* The backend must be one the worker knows (lib/backend_desc.h): its name
 * goes into the script. */
static int check_backend(const char *b, struct df_err *err)
{
    if (backend_desc_find(b))
        return 0;
    char shown[80], names[256];
    ident_escape(b, shown, sizeof(shown));
    backend_desc_names(names, sizeof(names));
    return df_err_set(err, DF_E_INVAL, "unknown backend '%s' (%s)", shown, names);
}

/* The template variables every batch script of shot `s` (or of an array led
 * by it) shares: resources, layout, worker.  Every value that reaches a shell
 * line is quoted by shellq_quote (or is a number or a checked identifier).
 * Returns how many it set, or a negative error. */
static int fill_vars(const struct jobspec_opts *o, const struct manifest *m, const struct shot *s,
                     const struct layout *l, const char *date, struct tvar *v,
                     struct df_err *err)
{
    int gpu = !o->cpu_ranks, n = 0;
    char desc[256];
    const char *backend =
        o->backend ? o->backend
                   : backend_desc_default(gpu ? LAYOUT_DEVICE_GPU : LAYOUT_DEVICE_CPU);
    DF_TRY(ident_check("manifest name", m->name, err));
    DF_TRY(ident_check("shot id", s->id, err));
    DF_TRY(check_backend(backend, err));
    layout_describe(l, desc, sizeof(desc));
    set_var(&v[n++], "MANIFEST", "%s", m->name);
    set_var(&v[n++], "LAYOUT", "%s; %.1f%% padding", desc, l->pad_pct);
    set_var(&v[n++], "NODES", "%d", l->nodes);
    set_var(&v[n++], "TASKS_PER_NODE", "%d", l->ranks_per_node);
    set_var(&v[n++], "CPUS_PER_TASK", "%d", o->cpus_per_task ? o->cpus_per_task : gpu ? 4 : 1);
    set_var(&v[n++], "GRACE", "%d", jobspec_grace(o, s, NULL, 0));
    v[n].name = "WORKER";
    DF_TRY(shellq_quote(o->worker, v[n++].value, sizeof(v[0].value), err));
    v[n].name = "DATE";
    DF_TRY(shellq_quote(date, v[n++].value, sizeof(v[0].value), err));
    set_var(&v[n++], "BACKEND", "%s", backend);
    v[n].name = "SBATCH_EXTRA";
    sbatch_extra(s, gpu, l, v[n++].value, sizeof(v[0].value));
    DF_FAIL_IF(shellq_has_control(o->worker_args), err, DF_E_INVAL,
               "worker arguments hold a control character");
    set_var(&v[n++], "WORKER_ARGS", "%s", o->worker_args);
    /* the exit codes the script tells apart, from the one header */
    set_var(&v[n++], "EXIT_DONE", "%d", WORKER_EXIT_DONE);
    set_var(&v[n++], "EXIT_CHECKPOINTED", "%d", WORKER_EXIT_CHECKPOINTED);
    set_var(&v[n++], "EXIT_RETRY", "%d", WORKER_EXIT_RETRY);
    set_var(&v[n++], "DONE_SUFFIX", "%s", WORKER_DONE_SUFFIX);
    return n;
}

int jobspec_grace(const struct jobspec_opts *o, const struct shot *s, char *note, size_t cap)
{
    /* the warning must come while there is time left to checkpoint: at most
     * half the time limit */
    int asked = o->grace_s ? o->grace_s : 120, grace = asked;
    if (s->resources.time_limit_min > 0 && grace > s->resources.time_limit_min * 30)
        grace = s->resources.time_limit_min * 30;
    if (note && cap)
        note[0] = '\0';
    if (note && grace != asked)
        snprintf(note, cap,
                 "shot %s: grace %d s clamped to %d s (half its %d-minute time limit), so the "
                 "workers get USR1 while there is time left to checkpoint",
                 s->id, asked, grace, s->resources.time_limit_min);
    return grace;
}

/* Expand the template and write it into dir_fd/name (see safeio.h). */
static int write_script(int dir_fd, const char *name, const char *shown, const struct tvar *v,
                        int n, struct df_err *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return df_err_set(err, DF_E_NOMEM, "out of memory writing %s", shown);
    int rc = expand(sbatch_template, v, n, f);
    if (fclose(f) != 0 || rc < 0 || !text) {
        free(text);
        return df_err_set(err, DF_E_NOMEM, "out of memory writing %s", shown);
    }
    rc = safeio_write_at(dir_fd, name, text, len, 0755, err);
    if (rc < 0)
        df_err_prefix(err, "%s", shown);
    free(text);
    return rc;
}

/* Resolve shot s for the job directory job->dir (lib/job_contract.h): the
 * one place a written job is planned; job->lay gets the plan. */
static int resolve_contract(const struct jobspec_opts *o, const struct manifest *m,
                            const struct shot *s, const char *date, struct jobspec *job,
                            struct job_contract *jc, struct df_err *err)
{
    struct job_contract_opts co;
    job_contract_opts_init(&co);
    co.cluster = jobspec_cluster(o);
    co.backend = o->backend;
    co.date = date;
    co.configs_dir = o->configs_dir;
    co.output_roots = o->output_roots;
    co.job_dir = job->dir;
    DF_TRY(job_contract_resolve(m, s, &co, jc, err));
    job->lay = jc->lay;
    return 0;
}

/* <dir>/job.json: the resolved shot, written into the job directory dir_fd
 * without following links. */
static int write_contract(const struct job_contract *jc, const struct jobspec *job, int dir_fd,
                          struct df_err *err)
{
    cJSON *j = job_contract_to_json(jc);
    int rc = write_json_at(dir_fd, JOB_CONTRACT_FILE, j, err);
    cJSON_Delete(j);
    if (rc < 0)
        df_err_prefix(err, "%s", job->dir);
    return rc;
}

int jobspec_write(const struct jobspec_opts *o, const struct manifest *m, const struct shot *s,
                  const char *date, const char *jobs_dir, struct jobspec *job, struct df_err *err)
{
    const struct layout *l = &job->lay;
    char jobs_abs[PATH_MAX];
    DF_TRY(jobs_root(jobs_dir, jobs_abs, err));
    DF_TRY(ident_check("manifest name", m->name, err));
    DF_TRY(ident_check("shot id", s->id, err));
    snprintf(job->dir, sizeof(job->dir), "%.2000s/%s/%s", jobs_abs, m->name, s->id);
    /* planned once, before anything is created: a shot that cannot be
     * planned leaves no directory behind */
    struct job_contract jc;
    DF_TRY(resolve_contract(o, m, s, date, job, &jc, err));
    int dfd, sub;
    int rc = open_manifest_dir(jobs_abs, m, s->id, &dfd, err);
    if (rc < 0) {
        job_contract_free(&jc);
        return rc;
    }
    rc = safeio_mkdirs_at(dfd, ".", "logs", 0755, &sub, err);
    if (rc == 0)
        close(sub), rc = safeio_mkdirs_at(dfd, ".", "ckpt", 0755, &sub, err);
    if (rc == 0)
        close(sub), rc = write_contract(&jc, job, dfd, err);
    job_contract_free(&jc);
    struct tvar v[24];
    int n = rc == 0 ? fill_vars(o, m, s, l, date, v, err) : rc;
    if (n < 0) {
        close(dfd);
        return n;
    }
    char q_dir[PATH_MAX + 64];
    rc = shellq_quote(job->dir, q_dir, sizeof(q_dir), err);
    if (rc == 0)
        set_var(&v[n++], "SHOT_SETUP", "shot=%s\njob_dir=%.2000s", s->id, q_dir);
    set_var(&v[n++], "WHAT", "shot %s", s->id);
    set_var(&v[n++], "JOB_NAME", "df-%s-%s", m->name, s->id);
    set_var(&v[n++], "LOG", "%.900s/logs/slurm-%%j.out", job->dir);
    snprintf(job->script, sizeof(job->script), "%s/job.sbatch", job->dir);
    if (rc == 0)
        rc = write_script(dfd, "job.sbatch", job->script, v, n, err);
    close(dfd);
    return rc;
}

int jobspec_array_key(const struct jobspec_opts *o, const struct manifest *m, const struct shot *s,
                      const struct layout *l, char *dst, size_t cap)
{
    struct tvar v[24];
    int n = fill_vars(o, m, s, l, "", v, NULL);
    size_t len = 0;
    if (n < 0)
        return -1;
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
    char base[PATH_MAX], jobs_abs[PATH_MAX];
    snprintf(base, sizeof(base), "%s", jobs[0].dir);
    char *slash = strrchr(base, '/');
    DF_FAIL_IF(!slash, err, DF_E_INVAL, "job dir %s has no parent", jobs[0].dir);
    *slash = '\0';
    snprintf(jobs_abs, sizeof(jobs_abs), "%s", base);
    slash = strrchr(jobs_abs, '/');
    DF_FAIL_IF(!slash, err, DF_E_INVAL, "job dir %s has no parent", jobs[0].dir);
    *slash = '\0';
    int mfd, lfd;
    DF_TRY(open_manifest_dir(jobs_abs[0] ? jobs_abs : "/", m, "", &mfd, err));
    int rc = safeio_mkdirs_at(mfd, ".", "logs", 0755, &lfd, err);
    if (rc < 0) {
        close(mfd);
        return rc;
    }
    close(lfd);
    struct tvar v[24];
    int n = fill_vars(o, m, shots[0], &jobs[0].lay, date, v, err);
    char q_base[PATH_MAX + 64];
    int qrc = n < 0 ? n : shellq_quote(base, q_base, sizeof(q_base), err);
    if (qrc < 0) {
        close(mfd);
        return qrc;
    }
    set_var(&v[n++], "WHAT", "%d shots (a job array)", n_shots);
    set_var(&v[n++], "JOB_NAME", "df-%s-array", m->name);
    /* the shot of this task comes from SLURM_ARRAY_TASK_ID; ids are
     * identifiers (ident.h), quoted all the same */
    size_t len = (size_t)snprintf(v[n].value, sizeof(v[0].value), "shot_list=(");
    for (int i = 0; i < n_shots && len < sizeof(v[0].value); i++) {
        rc = ident_check("shot id", shots[i]->id, err);
        if (rc < 0)
            break;
        len += (size_t)snprintf(v[n].value + len, sizeof(v[0].value) - len, "%s'%s'",
                                i ? " " : "", shots[i]->id);
    }
    if (len < sizeof(v[0].value))
        len += (size_t)snprintf(v[n].value + len, sizeof(v[0].value) - len,
                                ")\nshot=${shot_list[${SLURM_ARRAY_TASK_ID:?}]}\njob_dir=%s/\"$shot\"",
                                q_base);
    if (rc == 0 && len >= sizeof(v[0].value))
        rc = df_err_set(err, DF_E_RANGE, "too many shots for one array script (%d)", n_shots);
    v[n++].name = "SHOT_SETUP";
    set_var(&v[n++], "LOG", "%.3000s/logs/slurm-%%A_%%a.out", base);
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
    char name[IDENT_MAX_LEN + 32];
    snprintf(name, sizeof(name), "array-%s.sbatch", shots[0]->id);
    int w = snprintf(script, script_cap, "%s/%s", base, name);
    if (rc == 0 && (w < 0 || (size_t)w >= script_cap))
        rc = df_err_set(err, DF_E_RANGE, "array script path too long");
    if (rc == 0)
        rc = write_script(mfd, name, script, v, n, err);
    close(mfd);
    return rc;
}

/* ---- submission ------------------------------------------------------------ */

int jobspec_submit_argv(const char *deps, const char *token, const char *script,
                       struct jobspec_sbatch *a, struct df_err *err)
{
    memset(a, 0, sizeof(*a));
    int n = 0;
    a->argv[n++] = "sbatch";
    a->argv[n++] = "--parsable";
    if (deps && deps[0]) {
        /* job ids ("12", array tasks "12_3") joined by ':' */
        DF_FAIL_IF(strspn(deps, "0123456789_:") != strlen(deps), err, DF_E_INVAL,
                   "bad dependency list '%.64s'", deps);
        int w = snprintf(a->dep, sizeof(a->dep), "--dependency=afterok:%s", deps);
        DF_FAIL_IF(w < 0 || (size_t)w >= sizeof(a->dep), err, DF_E_RANGE,
                   "too many dependencies for one sbatch call");
        a->argv[n++] = a->dep;
        a->argv[n++] = "--kill-on-invalid-dep=yes";
    }
    if (token) {
        DF_TRY(ident_check("submission token", token, err));
        snprintf(a->comment, sizeof(a->comment), "--comment=%s", token);
        a->argv[n++] = a->comment;
    }
    a->argv[n++] = script;
    a->argv[n] = NULL;
    return 0;
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
    struct jobspec_sbatch a;
    DF_TRY(jobspec_submit_argv(deps, NULL, script, &a, err));
    char *out = NULL;
    int status = 0;
    struct df_err se = {0};
    if (subproc_run(a.argv, SUBPROC_STDERR_MERGE, 120 * 1000, 64 * 1024, &out, &status, &se) < 0)
        return df_err_set(err, DF_E_SLURM, "sbatch %s: %s", script, se.msg);
    int rc = jobspec_submit_parse(script, status, status == SUBPROC_TIMED_OUT, out, id, id_cap, err);
    free(out);
    return rc;
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
