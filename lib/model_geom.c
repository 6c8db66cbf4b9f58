/* model_geom.c -- model geometry from configs/models/<name>.yaml or a diffusers
 * folder, legal sizes, token grid, parameter count and FLOPs (see model_geom.h). */
#include "model_geom.h"
#include "config_json.h"
#include "ckd.h"
#include "diag.h"
#include "paths.h"
#include "ytree.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GEOM_YAML_MAX_BYTES (1u << 20)

static void set_defaults(struct model_geom *g)
{
    memset(g, 0, sizeof(*g));
    snprintf(g->family, sizeof(g->family), "wan2.1");
    g->text_len = 512;
    g->freq_dim = 256;
    g->patch[0] = 1, g->patch[1] = 2, g->patch[2] = 2;
    g->vae_stride[0] = 4, g->vae_stride[1] = 8, g->vae_stride[2] = 8;
}

/* Upper bounds of every width, one table for both sources (YAML and
 * config.json).  They are far above any real model (Wan 14B: 40 heads x 128,
 * ffn 13824) and low enough that every product the planner and the worker
 * form from them (hidden, params, FLOPs, latent sizes) fits 64 bits. */
#define GEOM_MAX_HEADS 1024
#define GEOM_MAX_HEAD_DIM 4096
#define GEOM_MAX_WIDTH (1 << 20)
#define GEOM_MAX_FFN (1 << 22)
#define GEOM_MAX_LAYERS 1024
#define GEOM_MAX_CHANNELS 4096
#define GEOM_MAX_STRIDE 64

/* Checks shared by both sources: every width in range, hidden consistent. */
static int check_complete(const struct model_geom *g, const char *where, struct df_err *err)
{
    const struct {
        const char *key;
        int v, hi;
    } need[] = {
        {"num_layers", g->num_layers, GEOM_MAX_LAYERS},
        {"num_heads", g->num_heads, GEOM_MAX_HEADS},
        {"head_dim", g->head_dim, GEOM_MAX_HEAD_DIM},
        {"hidden", g->hidden, GEOM_MAX_WIDTH},
        {"ffn_dim", g->ffn_dim, GEOM_MAX_FFN},
        {"in_channels", g->in_channels, GEOM_MAX_CHANNELS},
        {"out_channels", g->out_channels, GEOM_MAX_CHANNELS},
        {"text_dim", g->text_dim, GEOM_MAX_WIDTH},
        {"text_len", g->text_len, GEOM_MAX_WIDTH},
        {"freq_dim", g->freq_dim, GEOM_MAX_WIDTH},
    };
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        DF_FAIL_IF(need[i].v == 0, err, DF_E_INVAL, "%s: missing or non-positive '%s'", where,
                   need[i].key);
        DF_FAIL_IF(need[i].v < 0 || need[i].v > need[i].hi, err, DF_E_RANGE,
                   "%s: '%s' is not an integer in [1, %d]", where, need[i].key, need[i].hi);
    }
    /* both factors are bounded above, so the product cannot overflow */
    DF_FAIL_IF(g->hidden != g->num_heads * g->head_dim, err, DF_E_INVAL,
               "%s: hidden %d != num_heads %d x head_dim %d", where, g->hidden, g->num_heads,
               g->head_dim);
    for (int i = 0; i < 3; i++)
        DF_FAIL_IF(g->patch[i] <= 0 || g->vae_stride[i] <= 0 || g->patch[i] > GEOM_MAX_STRIDE ||
                       g->vae_stride[i] > GEOM_MAX_STRIDE,
                   err, DF_E_RANGE, "%s: patch and vae_stride must be integers in [1, %d]", where,
                   GEOM_MAX_STRIDE);
    return 0;
}

/* v as an int when it fits, else -1 (reported by check_complete as out of
 * range).  For widths derived from other widths of a hostile config. */
static int fit_int(int64_t v)
{
    return v >= 0 && v <= INT_MAX ? (int)v : -1;
}

/* ---- YAML geometry ----------------------------------------------------------- */

static const char *const k_yaml_keys[] = {
    "name",     "family",      "path",     "num_layers", "num_heads",    "head_dim",
    "hidden",   "ffn_dim",     "in_channels", "out_channels", "text_dim", "text_len",
    "freq_dim", "patch",       "vae_stride", "joint_text", NULL,
};

static int read_triple(const struct ynode *n, int out[3], struct diag_list *dl)
{
    if (ynode_expect(n, YNODE_KIND_SEQ, dl) < 0)
        return -1;
    if (n->n != 3) {
        ynode_diag(n, dl, "expected 3 integers (t, h, w), got %zu", n->n);
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        int64_t v;
        if (ynode_int(n->items[i], 1, GEOM_MAX_STRIDE, &v, dl) < 0)
            return -1;
        out[i] = (int)v;
    }
    return 0;
}

static void read_text(const struct ynode *n, char *dst, size_t cap, struct diag_list *dl)
{
    const char *s;
    if (ynode_str(n, &s, dl) < 0)
        return;
    if (strlen(s) >= cap)
        ynode_diag(n, dl, "longer than %zu characters", cap - 1);
    else
        memcpy(dst, s, strlen(s) + 1);
}

static void read_key(const struct ynode *k, const struct ynode *v, struct model_geom *g,
                     const char *dir, struct diag_list *dl)
{
    struct {
        const char *key;
        int *field;
        int64_t hi;
    } ints[] = {
        {"num_layers", &g->num_layers, GEOM_MAX_LAYERS},
        {"num_heads", &g->num_heads, GEOM_MAX_HEADS},
        {"head_dim", &g->head_dim, GEOM_MAX_HEAD_DIM},
        {"hidden", &g->hidden, GEOM_MAX_WIDTH},
        {"ffn_dim", &g->ffn_dim, GEOM_MAX_FFN},
        {"in_channels", &g->in_channels, GEOM_MAX_CHANNELS},
        {"out_channels", &g->out_channels, GEOM_MAX_CHANNELS},
        {"text_dim", &g->text_dim, GEOM_MAX_WIDTH},
        {"text_len", &g->text_len, GEOM_MAX_WIDTH},
        {"freq_dim", &g->freq_dim, GEOM_MAX_WIDTH},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        if (strcmp(k->str, ints[i].key) == 0) {
            int64_t x;
            if (ynode_int(v, 1, ints[i].hi, &x, dl) == 0)
                *ints[i].field = (int)x;
            return;
        }
    if (strcmp(k->str, "name") == 0) {
        read_text(v, g->name, sizeof(g->name), dl);
    } else if (strcmp(k->str, "family") == 0) {
        read_text(v, g->family, sizeof(g->family), dl);
    } else if (strcmp(k->str, "path") == 0) {
        const char *s;
        if (ynode_is_null(v) || ynode_str(v, &s, dl) < 0)
            return;
        struct df_err e;
        if (*s && paths_join(dir, s, g->path, sizeof(g->path), &e) < 0)
            ynode_diag(v, dl, "%s", e.msg);
    } else if (strcmp(k->str, "patch") == 0) {
        read_triple(v, g->patch, dl);
    } else if (strcmp(k->str, "vae_stride") == 0) {
        read_triple(v, g->vae_stride, dl);
    } else if (strcmp(k->str, "joint_text") == 0) {
        ynode_bool(v, &g->joint_text, dl);
    } else if (k->str[0] != 'x' || k->str[1] != '-') {
        const char *sug = ytree_suggest(k->str, k_yaml_keys);
        ynode_diag(k, dl, "unknown key '%s'%s%s%s", k->str, sug ? " (did you mean '" : "",
                   sug ? sug : "", sug ? "'?)" : "");
    }
}

static int first_diag(const struct diag_list *dl, int code, struct df_err *err)
{
    char line[DIAG_LINE_CAP];
    diag_format(&dl->items[0], line, sizeof(line));
    /* "file:1:2: error: key: msg" -> drop the severity word, one error here. */
    char *e = strstr(line, "error: ");
    if (e)
        memmove(e, e + 7, strlen(e + 7) + 1);
    return df_err_set(err, code, "%s", line);
}

static void basename_noext(const char *path, char *dst, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strnlen(b, cap - 1); /* a long name is cut to fit */
    memcpy(dst, b, n);
    dst[n] = '\0';
    char *dot = strrchr(dst, '.');
    if (dot && (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0))
        *dot = '\0';
}

static int load_yaml(const char *file, struct model_geom *g, struct df_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    DF_TRY(ytree_read_file(file, GEOM_YAML_MAX_BYTES, &buf, &len, err));
    struct diag_list dl = {0};
    struct ytree *t = NULL;
    int rc = ytree_parse(file, buf, len, &t, &dl, err);
    free(buf);
    if (rc < 0) {
        rc = dl.count ? first_diag(&dl, rc, err) : rc;
        diag_list_clear(&dl);
        return rc;
    }
    char dir[PATH_MAX];
    rc = paths_dirname_abs(file, dir, sizeof(dir), err);
    const struct ynode *root = ytree_root(t);
    set_defaults(g);
    basename_noext(file, g->name, sizeof(g->name));
    if (rc == 0 && ynode_expect(root, YNODE_KIND_MAP, &dl) == 0)
        for (size_t i = 0; i < root->n; i++)
            read_key(root->items[2 * i], root->items[2 * i + 1], g, dir, &dl);
    if (!ynode_get(root, "hidden"))
        g->hidden = fit_int((int64_t)g->num_heads * g->head_dim);
    if (!ynode_get(root, "out_channels"))
        g->out_channels = g->in_channels;
    if (rc == 0 && dl.count)
        rc = first_diag(&dl, DF_E_INVAL, err);
    if (rc == 0)
        rc = check_complete(g, file, err);
    diag_list_clear(&dl);
    ytree_free(t);
    return rc;
}

/* ---- diffusers folder --------------------------------------------------------- */

/* Through the one config.json reader (config_json.h); the tree is ours. */
static int read_json(const char *file, cJSON **out, struct df_err *err)
{
    struct config_json cj;
    DF_TRY(config_json_open(file, &cj, err));
    *out = cj.root;
    return 0;
}

/* An integer member, or `dflt` when absent; -1 when present but not an
 * integer in [0, INT_MAX] (check_complete then names the key and its range). */
static int json_int(const cJSON *o, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int x;
    if (!v)
        return dflt;
    if (!cJSON_IsNumber(v) || ckd_double_to_int(v->valuedouble, 0, INT_MAX, &x))
        return -1;
    return x;
}

static void geom_from_transformer(const cJSON *c, struct model_geom *g)
{
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(c, "_class_name");
    int cog = cJSON_IsString(cls) && strstr(cls->valuestring, "CogVideoX");
    g->num_heads = json_int(c, "num_attention_heads", 0);
    g->head_dim = json_int(c, "attention_head_dim", 0);
    g->num_layers = json_int(c, "num_layers", 0);
    g->in_channels = json_int(c, "in_channels", 0);
    g->out_channels = json_int(c, "out_channels", g->in_channels);
    g->hidden = fit_int((int64_t)g->num_heads * g->head_dim);
    if (cog) {
        snprintf(g->family, sizeof(g->family), "cogvideox");
        g->ffn_dim = json_int(c, "ffn_dim", fit_int(4 * (int64_t)g->hidden));
        g->text_dim = json_int(c, "text_embed_dim", 4096);
        g->text_len = json_int(c, "max_text_seq_length", 226);
        g->freq_dim = g->hidden;
        /* null in CogVideoX 1.0 configs: no temporal patching */
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(c, "patch_size_t");
        g->patch[0] = cJSON_IsNull(pt) ? 1 : json_int(c, "patch_size_t", 1);
        if (g->patch[0] == 0)
            g->patch[0] = 1;
        g->patch[1] = g->patch[2] = json_int(c, "patch_size", 2);
        g->joint_text = 1;
        return;
    }
    g->ffn_dim = json_int(c, "ffn_dim", 0);
    g->text_dim = json_int(c, "text_dim", 4096);
    g->freq_dim = json_int(c, "freq_dim", 256);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "patch_size");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 3)
        for (int i = 0; i < 3; i++) {
            const cJSON *e = cJSON_GetArrayItem(p, i);
            if (!cJSON_IsNumber(e) ||
                ckd_double_to_int(e->valuedouble, 1, GEOM_MAX_STRIDE, &g->patch[i]))
                g->patch[i] = -1;
        }
    else if (p)
        g->patch[0] = -1;
}

/* VAE strides: diffusers derives them from the VAE config (Wan:
 * temporal = 2^count(temperal_downsample), spatial = 2^len(...); CogVideoX:
 * temporal_compression_ratio, spatial = 2^(len(block_out_channels)-1)). */
static void geom_from_vae(const cJSON *v, struct model_geom *g)
{
    const cJSON *td = cJSON_GetObjectItemCaseSensitive(v, "temperal_downsample");
    if (cJSON_IsArray(td) && cJSON_GetArraySize(td) < 8) {
        int t = 1, s = 1;
        for (const cJSON *e = td->child; e; e = e->next) {
            t *= cJSON_IsTrue(e) ? 2 : 1;
            s *= 2;
        }
        g->vae_stride[0] = t;
        g->vae_stride[1] = g->vae_stride[2] = s;
    }
    int tc = json_int(v, "temporal_compression_ratio", 0);
    if (tc != 0) /* -1 (not an integer) and huge ratios fail check_complete */
        g->vae_stride[0] = tc;
    const cJSON *boc = cJSON_GetObjectItemCaseSensitive(v, "block_out_channels");
    if (tc > 0 && cJSON_IsArray(boc) && cJSON_GetArraySize(boc) > 0 && cJSON_GetArraySize(boc) < 8)
        g->vae_stride[1] = g->vae_stride[2] = 1 << (cJSON_GetArraySize(boc) - 1);
}

static int load_diffusers(const char *dir, struct model_geom *g, struct df_err *err)
{
    char file[PATH_MAX], real[PATH_MAX];
    DF_FAIL_IF(!realpath(dir, real), err, DF_E_NOTFOUND, "%s: model folder not found", dir);
    set_defaults(g);
    basename_noext(real, g->name, sizeof(g->name));
    DF_FAIL_IF(strlen(real) >= sizeof(g->path), err, DF_E_RANGE, "%s: path too long", dir);
    memcpy(g->path, real, strlen(real) + 1);
    DF_TRY(paths_join(real, "transformer/config.json", file, sizeof(file), err));
    cJSON *c = NULL;
    int rc = read_json(file, &c, err);
    if (rc < 0) {
        cJSON_Delete(c);
        if (rc == DF_E_NOTFOUND)
            df_err_prefix(err, "%s is not a diffusers model folder", dir);
        return rc;
    }
    geom_from_transformer(c, g);
    cJSON_Delete(c);
    struct stat st;
    DF_TRY(paths_join(real, "vae/config.json", file, sizeof(file), err));
    if (stat(file, &st) == 0) {
        cJSON *v = NULL;
        rc = read_json(file, &v, err);
        if (rc == 0)
            geom_from_vae(v, g);
        cJSON_Delete(v);
        DF_TRY(rc);
    }
    DF_TRY(paths_join(real, "transformer/config.json", file, sizeof(file), err));
    return check_complete(g, file, err);
}

/* ---- lookup by name -------------------------------------------------------------- */

static int suggest_model(const char *name, const char *models_dir, char *dst, size_t cap)
{
    DIR *d = opendir(models_dir);
    if (!d)
        return 0;
    char names[32][64];
    const char *cands[33];
    int n = 0;
    size_t off = 0;
    dst[0] = '\0';
    struct dirent *e;
    while ((e = readdir(d)) && n < 32) {
        size_t len = strlen(e->d_name);
        if (len < 6 || len - 5 >= sizeof(names[0]) || strcmp(e->d_name + len - 5, ".yaml"))
            continue;
        snprintf(names[n], sizeof(names[n]), "%.*s", (int)(len - 5), e->d_name);
        cands[n] = names[n];
        n++;
    }
    closedir(d);
    cands[n] = NULL;
    /* Sorted, so the message is the same on every filesystem. */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(cands[j - 1], cands[j]) > 0; j--) {
            const char *t = cands[j];
            cands[j] = cands[j - 1];
            cands[j - 1] = t;
        }
    const char *best = ytree_suggest(name, cands);
    if (best)
        off += (size_t)snprintf(dst + off, cap - off, " (did you mean '%s'?)", best);
    off += (size_t)snprintf(dst + off, off < cap ? cap - off : 0, "; known models:");
    for (int i = 0; i < n && off < cap; i++)
        off += (size_t)snprintf(dst + off, cap - off, " %s", cands[i]);
    return n;
}

static int valid_name(const char *s)
{
    if (!*s || strlen(s) >= 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

int model_geom_load(const char *name_or_path, const char *configs_dir, struct model_geom *out,
                    struct df_err *err)
{
    const char *s = name_or_path;
    size_t len = strlen(s);
    int is_yaml = len > 5 && (strcmp(s + len - 5, ".yaml") == 0 || strcmp(s + len - 4, ".yml") == 0);
    if (strchr(s, '/') || is_yaml) {
        struct stat st;
        DF_FAIL_IF(stat(s, &st) < 0, err, DF_E_NOTFOUND, "model '%s': no such file or folder", s);
        DF_FAIL_IF(!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode), err, DF_E_INVAL,
                   "model '%s': not a file or folder", s);
        return S_ISDIR(st.st_mode) ? load_diffusers(s, out, err) : load_yaml(s, out, err);
    }
    DF_FAIL_IF(!valid_name(s), err, DF_E_INVAL,
               "model name '%.64s' may only use letters, digits, '.', '_' and '-'", s);
    DF_FAIL_IF(!configs_dir, err, DF_E_NOTFOUND, "model '%s': no configs directory to look in",
               s);
    char file[PATH_MAX], models[PATH_MAX];
    DF_TRY(paths_join(configs_dir, "models", models, sizeof(models), err));
    int n = snprintf(file, sizeof(file), "%s/%s.yaml", models, s);
    DF_FAIL_IF(n < 0 || (size_t)n >= sizeof(file), err, DF_E_RANGE, "path too long");
    struct stat st;
    if (stat(file, &st) < 0) {
        char hint[700];
        suggest_model(s, models, hint, sizeof(hint));
        return df_err_set(err, DF_E_NOTFOUND, "unknown model '%s'%s", s, hint);
    }
    return load_yaml(file, out, err);
}

/* ---- sizes and grid ---------------------------------------------------------------- */

/* Sizes arrive from manifests (any int) and geometries from files; the
 * arithmetic below is 64-bit so no combination overflows.  check_complete
 * bounds stride and patch by GEOM_MAX_STRIDE, so m and step fit an int. */
static int check_multiple(const struct model_geom *g, const char *what, int v, int axis,
                          struct df_err *err)
{
    int64_t m = (int64_t)g->vae_stride[axis] * g->patch[axis];
    DF_FAIL_IF(v <= 0, err, DF_E_INVAL, "%s %d must be positive", what, v);
    DF_FAIL_IF(m <= 0, err, DF_E_INVAL, "model '%s': VAE stride %d x patch %d is not positive",
               g->name, g->vae_stride[axis], g->patch[axis]);
    if (v % m == 0)
        return 0;
    int64_t lo = v / m * m, hi = lo + m;
    if (lo == 0)
        return df_err_set(err, DF_E_INVAL,
                          "%s %d is not a multiple of %lld (model '%s': VAE stride %d x patch %d); "
                          "nearest: %lld",
                          what, v, (long long)m, g->name, g->vae_stride[axis], g->patch[axis],
                          (long long)hi);
    return df_err_set(err, DF_E_INVAL,
                      "%s %d is not a multiple of %lld (model '%s': VAE stride %d x patch %d); "
                      "nearest: %lld or %lld",
                      what, v, (long long)m, g->name, g->vae_stride[axis], g->patch[axis],
                      (long long)lo, (long long)hi);
}

int model_geom_check_width(const struct model_geom *g, int width, struct df_err *err)
{
    return check_multiple(g, "width", width, 2, err);
}

int model_geom_check_height(const struct model_geom *g, int height, struct df_err *err)
{
    return check_multiple(g, "height", height, 1, err);
}

/* Legal frame counts: the VAE keeps the first frame and compresses each later
 * group of vae_stride[0] frames into one latent frame (st*k + 1 frames), and
 * the latent frame count must divide by the temporal patch.  CogVideoX 2B/5B
 * (temporal patch 1): the VAE decodes L latent frames to st*(L-1)+1 only when
 * L is odd (diffusers' AutoencoderKLCogVideoX decodes an even L to st*L
 * frames: 13 frames -> 4 latents -> 16 frames), so only 2*st*k + 1 give the
 * count asked for. */
int model_geom_check_frames(const struct model_geom *g, int frames, struct df_err *err)
{
    int64_t st = g->vae_stride[0], pt = g->patch[0];
    DF_FAIL_IF(frames <= 0, err, DF_E_INVAL, "frames %d must be positive", frames);
    DF_FAIL_IF(st <= 0 || pt <= 0, err, DF_E_INVAL,
               "model '%s': VAE stride %lld x patch %lld is not positive", g->name,
               (long long)st, (long long)pt);
    const int odd_latents = strcmp(g->family, "cogvideox") == 0 && pt == 1;
    int64_t step = st * pt;            /* between legal counts when latent_t must divide by pt */
    int64_t first = st * (pt - 1) + 1; /* smallest legal: latent_t = pt */
    if (odd_latents)
        step = 2 * st, first = 1;
    if (frames >= first && (frames - first) % step == 0)
        return 0;
    char form[48], why[160] = "";
    snprintf(form, sizeof(form), "%lldk+%lld", (long long)step, (long long)(first % step));
    if (odd_latents && (frames - 1) % st == 0)
        snprintf(why, sizeof(why), ": its VAE decodes %lld latent frames to %lld frames",
                 (long long)((frames - 1) / st + 1), (long long)(frames - 1 + st));
    if (frames < first)
        return df_err_set(err, DF_E_INVAL,
                          "frames %d is not of the form %s (model '%s'%s); nearest: %lld", frames,
                          form, g->name, why, (long long)first);
    int64_t lo = first + (frames - first) / step * step;
    return df_err_set(err, DF_E_INVAL,
                      "frames %d is not of the form %s (model '%s'%s); nearest: %lld or %lld",
                      frames, form, g->name, why, (long long)lo, (long long)(lo + step));
}

int model_geom_grid(const struct model_geom *g, int width, int height, int frames,
                    struct model_grid *out, struct df_err *err)
{
    DF_TRY(model_geom_check_width(g, width, err));
    DF_TRY(model_geom_check_height(g, height, err));
    DF_TRY(model_geom_check_frames(g, frames, err));
    out->latent[0] = (frames - 1) / g->vae_stride[0] + 1;
    out->latent[1] = height / g->vae_stride[1];
    out->latent[2] = width / g->vae_stride[2];
    for (int i = 0; i < 3; i++)
        out->tokens[i] = out->latent[i] / g->patch[i];
    const int64_t t[3] = {out->tokens[0], out->tokens[1], out->tokens[2]};
    DF_FAIL_IF(ckd_prod_i64(&out->seq_len, t, 3, INT64_MAX / 2), err, DF_E_RANGE,
               "%dx%d, %d frames: %d x %d x %d tokens overflow a 64-bit count", width, height,
               frames, out->tokens[0], out->tokens[1], out->tokens[2]);
    if (g->joint_text)
        out->seq_len += g->text_len;
    return 0;
}

/* ---- size and cost ----------------------------------------------------------------- */

static int64_t linear(int64_t in, int64_t out)
{
    return in * out + out;
}

int64_t model_geom_params(const struct model_geom *g)
{
    int64_t h = g->hidden, f = g->ffn_dim;
    int64_t p = (int64_t)g->patch[0] * g->patch[1] * g->patch[2];
    int64_t patch_in = linear(g->in_channels * p, h);
    int64_t head = linear(h, g->out_channels * p);
    if (g->joint_text) {
        /* CogVideoX block: two LayerNormZero (temb -> 6h), q/k/v/o, q/k norms,
         * GELU FFN.  Embeddings: text projection, time MLP, final adaLN. */
        const int64_t temb = 512;
        int64_t block = 2 * linear(temb, 6 * h) + 4 * linear(h, h) + 4 * g->head_dim +
                        linear(h, f) + linear(f, h);
        int64_t embed = patch_in + linear(g->text_dim, h) + linear(h, temb) + linear(temb, temb) +
                        linear(temb, 2 * h) + 2 * h + head;
        return g->num_layers * block + embed;
    }
    /* Wan block (diffusers WanTransformerBlock): self- and cross-attention
     * (q/k/v/o + RMSNorm on q and k over the full width), affine norm2, FFN,
     * scale_shift_table [6h]. */
    int64_t attn = 4 * linear(h, h) + 2 * h;
    int64_t block = 2 * attn + 2 * h + linear(h, f) + linear(f, h) + 6 * h;
    /* Embeddings: patch conv, text MLP (2 linears), time MLP, time_proj (6h),
     * head projection + scale_shift_table [2h]. */
    int64_t embed = patch_in + linear(g->text_dim, h) + linear(h, h) + linear(g->freq_dim, h) +
                    linear(h, h) + linear(h, 6 * h) + head + 2 * h;
    return g->num_layers * block + embed;
}

double model_geom_forward_flops(const struct model_geom *g, int64_t seq_len)
{
    double h = g->hidden, f = g->ffn_dim, s = (double)seq_len, l = g->text_len;
    double p = (double)g->patch[0] * g->patch[1] * g->patch[2];
    /* 2 FLOPs per multiply-add.  Self-attention: q/k/v/o projections 8sh^2,
     * QK^T and PV 4s^2h; FFN 4shf. */
    double layer = 8 * s * h * h + 4 * s * s * h + 4 * s * h * f;
    if (!g->joint_text) /* cross-attention: q/o on s, k/v on the text, scores */
        layer += 4 * s * h * h + 4 * l * h * h + 4 * s * l * h;
    double embed = 2 * s * g->in_channels * p * h + 2 * s * h * g->out_channels * p +
                   2 * l * (g->text_dim * h + h * h);
    return g->num_layers * layer + embed;
}
