/*
 * safetensors.c -- mmap'd safetensors reader (single file or sharded) and a
 * small writer.
 *
 * Trust model: a file may be truncated, hostile or simply not a safetensors
 * file.  Every header entry is validated once at open (dtype known, shape
 * sane, numel*size == end-begin, end <= data size, no integer overflow), so
 * a `struct safetensors_tensor` always describes bytes inside its mapping.
 */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Headers larger than this are refused: real ones are a few hundred KB. */
#define HEADER_MAX ((uint64_t)100 << 20)
/* Shard index files are small JSON; refuse anything absurd. */
#define INDEX_MAX ((long)64 << 20)
/* Shape entries and offsets must be exact in a double. */
#define JSON_INT_MAX 9007199254740992.0 /* 2^53 */

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
    [SAFETENSORS_DTYPE_F32] = {"F32", 4},         [SAFETENSORS_DTYPE_F16] = {"F16", 2},
    [SAFETENSORS_DTYPE_BF16] = {"BF16", 2},       [SAFETENSORS_DTYPE_F64] = {"F64", 8},
    [SAFETENSORS_DTYPE_I64] = {"I64", 8},         [SAFETENSORS_DTYPE_I32] = {"I32", 4},
    [SAFETENSORS_DTYPE_I16] = {"I16", 2},         [SAFETENSORS_DTYPE_I8] = {"I8", 1},
    [SAFETENSORS_DTYPE_U8] = {"U8", 1},           [SAFETENSORS_DTYPE_BOOL] = {"BOOL", 1},
    [SAFETENSORS_DTYPE_F8_E4M3] = {"F8_E4M3", 1}, [SAFETENSORS_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
};
_Static_assert(sizeof dtype_table / sizeof dtype_table[0] == SAFETENSORS_DTYPE_COUNT,
               "every safetensors dtype needs a name and a size");

const char *safetensors_dtype_name(enum safetensors_dtype d)
{
    return (unsigned)d < SAFETENSORS_DTYPE_COUNT ? dtype_table[d].name : "?";
}

size_t safetensors_dtype_size(enum safetensors_dtype d)
{
    return (unsigned)d < SAFETENSORS_DTYPE_COUNT ? dtype_table[d].size : 0;
}

int safetensors_dtype_from_name(const char *name, enum safetensors_dtype *out)
{
    for (int i = 0; i < SAFETENSORS_DTYPE_COUNT; i++) {
        if (strcmp(name, dtype_table[i].name) == 0) {
            *out = (enum safetensors_dtype)i;
            return 0;
        }
    }
    return DF_E_NOTFOUND;
}

/* ---------------------------------------------------------------------------
 * Model object
 * ------------------------------------------------------------------------- */

struct st_map {
    char *path;  /* as opened (dir + "/" + file for shards) */
    void *base;  /* mmap of the whole file, or NULL for an empty mapping */
    size_t size; /* file size */
};

struct safetensors {
    struct st_map *maps;               /* one per file */
    int n_maps;
    struct safetensors_tensor *tensors; /* sorted by name after open */
    int n_tensors;
    int cap_tensors;
};

void safetensors_close(struct safetensors *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->n_tensors; i++)
        free((char *)st->tensors[i].name);
    for (int i = 0; i < st->n_maps; i++) {
        if (st->maps[i].base)
            munmap(st->maps[i].base, st->maps[i].size);
        free(st->maps[i].path);
    }
    free(st->maps);
    free(st->tensors);
    free(st);
}

static int cmp_tensor(const void *a, const void *b)
{
    return strcmp(((const struct safetensors_tensor *)a)->name,
                  ((const struct safetensors_tensor *)b)->name);
}

/* Sort by name and refuse duplicates (two shards, or a repeated JSON key). */
static int finish_index(struct safetensors *st, struct df_err *err)
{
    if (st->n_tensors > 1)
        qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, cmp_tensor);
    for (int i = 1; i < st->n_tensors; i++) {
        const struct safetensors_tensor *a = &st->tensors[i - 1], *b = &st->tensors[i];
        if (strcmp(a->name, b->name) == 0)
            return df_err_set(err, DF_E_PARSE, "%s: tensor '%s' appears twice (also in %s)",
                              b->path, b->name, a->path);
    }
    return 0;
}

static int push_tensor(struct safetensors *st, const struct safetensors_tensor *t,
                       struct df_err *err)
{
    if (st->n_tensors == st->cap_tensors) {
        int cap = st->cap_tensors ? 2 * st->cap_tensors : 64;
        void *p = realloc(st->tensors, (size_t)cap * sizeof *st->tensors);
        if (!p)
            return df_err_set(err, DF_E_NOMEM, "%s: out of memory indexing tensors", t->path);
        st->tensors = p;
        st->cap_tensors = cap;
    }
    st->tensors[st->n_tensors] = *t;
    st->tensors[st->n_tensors].name = strdup(t->name);
    if (!st->tensors[st->n_tensors].name)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory indexing tensors", t->path);
    st->n_tensors++;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Header validation
 * ------------------------------------------------------------------------- */

static int json_uint(const cJSON *n, double max, int64_t *out)
{
    if (!cJSON_IsNumber(n))
        return -1;
    double v = n->valuedouble;
    if (!(v >= 0.0) || v > max || v != floor(v))
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* Validate one header entry and describe it in *t (data inside `data`). */
static int parse_entry(const char *path, const cJSON *e, const unsigned char *data,
                       uint64_t data_size, struct safetensors_tensor *t, struct df_err *err)
{
    const char *name = e->string;
    DF_FAIL_IF(!cJSON_IsObject(e), err, DF_E_PARSE, "%s: tensor '%s': entry is not an object",
               path, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    DF_FAIL_IF(!cJSON_IsString(jd), err, DF_E_PARSE, "%s: tensor '%s': missing string 'dtype'",
               path, name);
    DF_FAIL_IF(!cJSON_IsArray(js), err, DF_E_PARSE, "%s: tensor '%s': missing array 'shape'",
               path, name);
    DF_FAIL_IF(!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2, err, DF_E_PARSE,
               "%s: tensor '%s': 'data_offsets' must be [begin, end]", path, name);
    memset(t, 0, sizeof *t);
    t->name = name;
    t->path = path;
    DF_FAIL_IF(safetensors_dtype_from_name(jd->valuestring, &t->dtype) < 0, err, DF_E_PARSE,
               "%s: tensor '%s': unknown dtype '%s'", path, name, jd->valuestring);
    int ndim = cJSON_GetArraySize(js);
    DF_FAIL_IF(ndim > SAFETENSORS_MAX_DIMS, err, DF_E_PARSE,
               "%s: tensor '%s': %d dimensions, at most %d supported", path, name, ndim,
               SAFETENSORS_MAX_DIMS);
    t->ndim = ndim;
    /* numel is bounded by the data size, so checking against it at every
     * step keeps the product from overflowing. */
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        int64_t d;
        DF_FAIL_IF(json_uint(cJSON_GetArrayItem(js, i), JSON_INT_MAX, &d) < 0, err, DF_E_PARSE,
                   "%s: tensor '%s': shape[%d] is not a non-negative integer", path, name, i);
        t->shape[i] = d;
        if (d == 0)
            numel = 0;
        else if (numel != 0) {
            DF_FAIL_IF((uint64_t)d > data_size || numel > data_size / (uint64_t)d, err,
                       DF_E_PARSE, "%s: tensor '%s': shape larger than the file's data (%llu bytes)",
                       path, name, (unsigned long long)data_size);
            numel *= (uint64_t)d;
        }
    }
    int64_t begin, end;
    DF_FAIL_IF(json_uint(cJSON_GetArrayItem(jo, 0), JSON_INT_MAX, &begin) < 0 ||
                   json_uint(cJSON_GetArrayItem(jo, 1), JSON_INT_MAX, &end) < 0,
               err, DF_E_PARSE, "%s: tensor '%s': data_offsets are not non-negative integers",
               path, name);
    DF_FAIL_IF(begin > end || (uint64_t)end > data_size, err, DF_E_PARSE,
               "%s: tensor '%s': data_offsets [%lld, %lld] outside the data section (%llu bytes)",
               path, name, (long long)begin, (long long)end, (unsigned long long)data_size);
    size_t esize = dtype_table[t->dtype].size;
    DF_FAIL_IF(numel > data_size / esize || numel * esize != (uint64_t)(end - begin), err,
               DF_E_PARSE, "%s: tensor '%s': %s shape needs %llu bytes but data_offsets span %lld",
               path, name, jd->valuestring, (unsigned long long)(numel * esize),
               (long long)(end - begin));
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)(end - begin);
    t->data = data + begin;
    return 0;
}

static int cmp_data(const void *a, const void *b)
{
    const struct safetensors_tensor *x = *(const struct safetensors_tensor *const *)a;
    const struct safetensors_tensor *y = *(const struct safetensors_tensor *const *)b;
    if ((const char *)x->data != (const char *)y->data)
        return (const char *)x->data < (const char *)y->data ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Refuse two tensors of one file sharing bytes: a writer never produces
 * that, and a crafted file would make one weight silently alias another
 * (the reference safetensors library refuses it as well).  Empty tensors
 * occupy nothing and may sit anywhere. */
static int check_no_overlap(const struct safetensors *st, int first, struct df_err *err)
{
    int n = st->n_tensors - first;
    if (n < 2)
        return 0;
    const struct safetensors_tensor **v = malloc((size_t)n * sizeof *v);
    if (!v)
        return df_err_set(err, DF_E_NOMEM, "out of memory checking tensor offsets");
    int k = 0;
    for (int i = first; i < st->n_tensors; i++)
        if (st->tensors[i].nbytes > 0)
            v[k++] = &st->tensors[i];
    qsort(v, (size_t)k, sizeof *v, cmp_data);
    int rc = 0;
    for (int i = 1; i < k && rc == 0; i++) {
        const char *prev_end = (const char *)v[i - 1]->data + v[i - 1]->nbytes;
        if ((const char *)v[i]->data < prev_end)
            rc = df_err_set(err, DF_E_PARSE,
                            "%s: tensors '%s' and '%s' overlap in the data section "
                            "(data_offsets share bytes)",
                            v[i]->path, v[i - 1]->name, v[i]->name);
    }
    free(v);
    return rc;
}

/* Map `path`, parse its header and append its tensors to st. */
static int load_file(struct safetensors *st, const char *path, struct df_err *err)
{
    void *p = realloc(st->maps, (size_t)(st->n_maps + 1) * sizeof *st->maps);
    if (!p)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", path);
    st->maps = p;
    struct st_map *m = &st->maps[st->n_maps];
    memset(m, 0, sizeof *m);
    m->path = strdup(path);
    if (!m->path)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", path);
    st->n_maps++;

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return df_err_errno(err, errno == ENOENT ? DF_E_NOTFOUND : DF_E_IO, "%s: open", path);
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        int rc = df_err_errno(err, DF_E_IO, "%s: stat", path);
        close(fd);
        return rc;
    }
    m->size = (size_t)sb.st_size;
    if (m->size < 8) {
        close(fd);
        return df_err_set(err, DF_E_PARSE,
                          "%s: truncated: %zu bytes, a safetensors file starts with an 8-byte "
                          "header length", path, m->size);
    }
    m->base = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m->base == MAP_FAILED) {
        m->base = NULL;
        return df_err_errno(err, DF_E_IO, "%s: mmap", path);
    }
    const unsigned char *b = m->base;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | b[i];
    DF_FAIL_IF(hlen > m->size - 8, err, DF_E_PARSE,
               "%s: header length %llu exceeds the file (%zu bytes): truncated or not safetensors",
               path, (unsigned long long)hlen, m->size);
    DF_FAIL_IF(hlen > HEADER_MAX, err, DF_E_PARSE, "%s: header length %llu exceeds %llu bytes",
               path, (unsigned long long)hlen, (unsigned long long)HEADER_MAX);
    const char *hdr = (const char *)b + 8;
    /* Parse a NUL-terminated copy: the mapping has no terminator of its own. */
    char *copy = malloc((size_t)hlen + 1);
    if (!copy)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory for the header", path);
    memcpy(copy, hdr, (size_t)hlen);
    copy[hlen] = '\0';
    cJSON *root = cJSON_ParseWithLength(copy, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        const char *where = cJSON_GetErrorPtr();
        long off = (where && where >= copy && where <= copy + hlen) ? (long)(where - copy) : -1;
        cJSON_Delete(root);
        free(copy);
        return df_err_set(err, DF_E_PARSE, "%s: header is not a JSON object (error near byte %ld)",
                          path, off + 8);
    }
    const unsigned char *data = b + 8 + hlen;
    uint64_t data_size = m->size - 8 - hlen;
    int rc = 0, first = st->n_tensors;
    const cJSON *e;
    cJSON_ArrayForEach(e, root)
    {
        if (strcmp(e->string, "__metadata__") == 0)
            continue;
        struct safetensors_tensor t;
        rc = parse_entry(m->path, e, data, data_size, &t, err);
        if (rc == 0)
            rc = push_tensor(st, &t, err);
        if (rc < 0)
            break;
    }
    if (rc == 0)
        rc = check_no_overlap(st, first, err);
    cJSON_Delete(root);
    free(copy);
    return rc;
}

int safetensors_open(const char *path, struct safetensors **out, struct df_err *err)
{
    *out = NULL;
    struct safetensors *st = calloc(1, sizeof *st);
    if (!st)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", path);
    int rc = load_file(st, path, err);
    if (rc == 0)
        rc = finish_index(st, err);
    if (rc < 0) {
        safetensors_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Sharded models
 * ------------------------------------------------------------------------- */

static int read_small_file(const char *path, char **out, struct df_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return df_err_errno(err, errno == ENOENT ? DF_E_NOTFOUND : DF_E_IO, "%s: open", path);
    char *buf = NULL;
    int rc = 0;
    if (fseek(f, 0, SEEK_END) != 0) {
        rc = df_err_errno(err, DF_E_IO, "%s: seek", path);
        goto done;
    }
    long n = ftell(f);
    if (n < 0 || n > INDEX_MAX) {
        rc = df_err_set(err, DF_E_PARSE, "%s: unreadable or larger than %ld bytes", path,
                        INDEX_MAX);
        goto done;
    }
    rewind(f);
    buf = malloc((size_t)n + 1);
    if (!buf) {
        rc = df_err_set(err, DF_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        rc = df_err_errno(err, DF_E_IO, "%s: read", path);
        goto done;
    }
    buf[n] = '\0';
    *out = buf;
    buf = NULL;
done:
    free(buf);
    fclose(f);
    return rc;
}

/* Open every distinct shard named in the index, then check the weight map. */
static int load_index(struct safetensors *st, const char *dir, const char *index_path,
                      struct df_err *err)
{
    char *text = NULL;
    DF_TRY(read_small_file(index_path, &text, err));
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    int rc = 0;
    if (!cJSON_IsObject(wm)) {
        rc = df_err_set(err, DF_E_PARSE, "%s: not JSON with a \"weight_map\" object", index_path);
        goto done;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, wm)
    {
        if (!cJSON_IsString(e)) {
            rc = df_err_set(err, DF_E_PARSE, "%s: weight_map['%s'] is not a file name",
                            index_path, e->string);
            goto done;
        }
        const char *file = e->valuestring;
        if (!*file || strchr(file, '/') || strcmp(file, "..") == 0) {
            rc = df_err_set(err, DF_E_PARSE,
                            "%s: weight_map['%s'] = '%s' is not a plain file name in the folder",
                            index_path, e->string, file);
            goto done;
        }
        char path[4096];
        int len = snprintf(path, sizeof path, "%s/%s", dir, file);
        if (len < 0 || (size_t)len >= sizeof path) {
            rc = df_err_set(err, DF_E_INVAL, "%s: shard path too long", index_path);
            goto done;
        }
        int seen = 0;
        for (int i = 0; i < st->n_maps && !seen; i++)
            seen = strcmp(st->maps[i].path, path) == 0;
        if (!seen && (rc = load_file(st, path, err)) < 0)
            goto done;
    }
    if ((rc = finish_index(st, err)) < 0)
        goto done;
    cJSON_ArrayForEach(e, wm)
    {
        const struct safetensors_tensor *t = safetensors_find(st, e->string);
        const char *slash = t ? strrchr(t->path, '/') : NULL;
        if (!t || strcmp(slash ? slash + 1 : t->path, e->valuestring) != 0) {
            rc = df_err_set(err, DF_E_PARSE, "%s: tensor '%s' is mapped to %s but %s", index_path,
                            e->string, e->valuestring, t ? "found in another shard" : "missing there");
            goto done;
        }
    }
done:
    cJSON_Delete(root);
    return rc;
}

int safetensors_open_model(const char *dir, const char *stem, struct safetensors **out,
                           struct df_err *err)
{
    *out = NULL;
    char single[4096], index[4096];
    int n1 = snprintf(single, sizeof single, "%s/%s.safetensors", dir, stem);
    int n2 = snprintf(index, sizeof index, "%s/%s.safetensors.index.json", dir, stem);
    DF_FAIL_IF(n1 < 0 || n2 < 0 || (size_t)n2 >= sizeof index, err, DF_E_INVAL,
               "%s: path too long", dir);
    if (access(single, F_OK) == 0)
        return safetensors_open(single, out, err);
    DF_FAIL_IF(access(index, F_OK) != 0, err, DF_E_NOTFOUND,
               "%s: no %s.safetensors nor %s.safetensors.index.json", dir, stem, stem);
    struct safetensors *st = calloc(1, sizeof *st);
    if (!st)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", index);
    int rc = load_index(st, dir, index, err);
    if (rc < 0) {
        safetensors_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Lookup
 * ------------------------------------------------------------------------- */

int safetensors_count(const struct safetensors *st)
{
    return st ? st->n_tensors : 0;
}

const struct safetensors_tensor *safetensors_at(const struct safetensors *st, int i)
{
    return (st && i >= 0 && i < st->n_tensors) ? &st->tensors[i] : NULL;
}

const struct safetensors_tensor *safetensors_find(const struct safetensors *st, const char *name)
{
    if (!st || st->n_tensors == 0)
        return NULL;
    struct safetensors_tensor key = {.name = name};
    return bsearch(&key, st->tensors, (size_t)st->n_tensors, sizeof key, cmp_tensor);
}

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "",
                                 (long long)shape[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

/* The file a missing tensor was looked for in: the single file, or the
 * folder of the shards. */
static const char *where(const struct safetensors *st)
{
    return st->n_maps > 0 ? st->maps[0].path : "(no file)";
}

int safetensors_get(const struct safetensors *st, const char *name, int ndim,
                    const int64_t *shape, const struct safetensors_tensor **out,
                    struct df_err *err)
{
    *out = NULL;
    const struct safetensors_tensor *t = safetensors_find(st, name);
    if (!t) {
        if (st->n_maps > 1)
            return df_err_set(err, DF_E_NOTFOUND, "%s (and %d other shards): tensor '%s' not found",
                              where(st), st->n_maps - 1, name);
        return df_err_set(err, DF_E_NOTFOUND, "%s: tensor '%s' not found", where(st), name);
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char got[256], want[256];
        format_shape(got, sizeof got, t->ndim, t->shape);
        format_shape(want, sizeof want, ndim, shape);
        return df_err_set(err, DF_E_INVAL, "%s: tensor '%s' has shape %s, expected %s", t->path,
                          name, got, want);
    }
    *out = t;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Conversion
 * ------------------------------------------------------------------------- */

float safetensors_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* inf / nan */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else {
        /* zero or subnormal: value = man * 2^-24, exact in fp32 */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float safetensors_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t safetensors_f32_to_bf16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((bits >> 16) | 0x40u); /* keep nan a (quiet) nan */
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

uint16_t safetensors_f32_to_f16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, 4);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    uint32_t abs = bits & 0x7fffffffu;
    if (abs > 0x7f800000u)
        return sign | 0x7e00u;
    if (abs >= 0x477ff000u) /* rounds to >= 65520: inf */
        return sign | 0x7c00u;
    if (abs < 0x38800000u) { /* below the smallest normal 2^-14: subnormal */
        float a;
        memcpy(&a, &abs, 4);
        return sign | (uint16_t)lrintf(a * 0x1p24f); /* nearest-even in the current mode */
    }
    uint32_t r = abs + 0xfffu + ((abs >> 13) & 1u);
    return sign | (uint16_t)((r - 0x38000000u) >> 13);
}

/* Weights and embeddings are finite in every real checkpoint; one NaN or Inf
 * would spread through the whole frame and render garbage with rc 0, so it is
 * refused here, where the tensor's name is still known.  The test is on the
 * exponent bits, inside the conversion loop, so loading pays no extra pass
 * over 16-bit weights and one integer pass over f32 ones. */
struct nonfinite {
    size_t count, first;
};

static inline void note_nonfinite(struct nonfinite *nf, int bad, size_t i)
{
    if (bad && nf->count++ == 0)
        nf->first = i;
}

int safetensors_to_f32(const struct safetensors_tensor *t, float *dst, size_t n,
                       struct df_err *err)
{
    DF_FAIL_IF(n != (size_t)t->numel, err, DF_E_INVAL,
               "%s: tensor '%s': destination holds %zu values, tensor has %lld", t->path, t->name,
               n, (long long)t->numel);
    const unsigned char *src = t->data;
    struct nonfinite nf = {0, 0};
    switch (t->dtype) {
    case SAFETENSORS_DTYPE_F32:
        memcpy(dst, src, n * 4); /* little-endian host assumed (x86-64, aarch64) */
        for (size_t i = 0; i < n; i++) {
            uint32_t b;
            memcpy(&b, &dst[i], 4);
            note_nonfinite(&nf, (b & 0x7f800000u) == 0x7f800000u, i);
        }
        break;
    case SAFETENSORS_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            note_nonfinite(&nf, (h & 0x7c00u) == 0x7c00u, i);
            dst[i] = safetensors_f16_to_f32(h);
        }
        break;
    case SAFETENSORS_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            note_nonfinite(&nf, (h & 0x7f80u) == 0x7f80u, i);
            dst[i] = safetensors_bf16_to_f32(h);
        }
        break;
    default:
        return df_err_set(err, DF_E_UNSUPPORTED,
                          "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 are supported",
                          t->path, t->name, safetensors_dtype_name(t->dtype));
    }
    DF_FAIL_IF(nf.count, err, DF_E_INVAL,
               "%s: tensor '%s' holds %zu non-finite value(s) (NaN or Inf; first at index %zu): "
               "the weights are corrupt",
               t->path, t->name, nf.count, nf.first);
    return 0;
}

int safetensors_read_f32(const struct safetensors *st, const char *name, int ndim,
                         const int64_t *shape, float *dst, struct df_err *err)
{
    const struct safetensors_tensor *t;
    DF_TRY(safetensors_get(st, name, ndim, shape, &t, err));
    return safetensors_to_f32(t, dst, (size_t)t->numel, err);
}

/* ---------------------------------------------------------------------------
 * Writer
 * ------------------------------------------------------------------------- */

static int64_t entry_numel(const struct safetensors_entry *e)
{
    int64_t n = 1;
    for (int d = 0; d < e->ndim; d++)
        n *= e->shape[d];
    return n;
}

/* The JSON header, padded with spaces to a multiple of 8 so the data of an
 * F32 file starts aligned (the format allows trailing whitespace). */
static char *build_header(const struct safetensors_entry *entries, int n, const char *const *meta,
                          int n_meta, size_t *len_out, struct df_err *err)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    if (n_meta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; m && i < n_meta; i++)
            cJSON_AddStringToObject(m, meta[2 * i], meta[2 * i + 1]);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const struct safetensors_entry *e = &entries[i];
        cJSON *o = cJSON_AddObjectToObject(root, e->name);
        if (!o)
            goto fail;
        cJSON_AddStringToObject(o, "dtype", safetensors_dtype_name(e->dtype));
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; shape && d < e->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
        uint64_t bytes = (uint64_t)entry_numel(e) * safetensors_dtype_size(e->dtype);
        cJSON *offs = cJSON_AddArrayToObject(o, "data_offsets");
        if (offs) {
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + bytes)));
        }
        off += bytes;
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) {
        df_err_set(err, DF_E_NOMEM, "safetensors: out of memory building the header");
        return NULL;
    }
    size_t len = strlen(text), padded = (len + 7) & ~(size_t)7;
    char *buf = realloc(text, padded + 1);
    if (!buf) {
        free(text);
        df_err_set(err, DF_E_NOMEM, "safetensors: out of memory building the header");
        return NULL;
    }
    memset(buf + len, ' ', padded - len);
    buf[padded] = '\0';
    *len_out = padded;
    return buf;
fail:
    cJSON_Delete(root);
    df_err_set(err, DF_E_NOMEM, "safetensors: out of memory building the header");
    return NULL;
}

static int write_data(FILE *f, const struct safetensors_entry *e, const void *raw)
{
    int64_t n = entry_numel(e);
    if (raw)
        return fwrite(raw, safetensors_dtype_size(e->dtype), (size_t)n, f) == (size_t)n ? 0 : -1;
    if (e->dtype == SAFETENSORS_DTYPE_F32)
        return fwrite(e->data, 4, (size_t)n, f) == (size_t)n ? 0 : -1;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = e->dtype == SAFETENSORS_DTYPE_BF16 ? safetensors_f32_to_bf16(e->data[i])
                                                        : safetensors_f32_to_f16(e->data[i]);
        unsigned char b[2] = {(unsigned char)(h & 0xff), (unsigned char)(h >> 8)};
        if (fwrite(b, 1, 2, f) != 2)
            return -1;
    }
    return 0;
}

int safetensors_write(const char *path, const struct safetensors_entry *entries, int n,
                      const char *const *meta, int n_meta, struct df_err *err)
{
    return safetensors_write_raw(path, entries, NULL, n, meta, n_meta, err);
}

int safetensors_write_raw(const char *path, const struct safetensors_entry *entries,
                          const void *const *raw, int n, const char *const *meta, int n_meta,
                          struct df_err *err)
{
    for (int i = 0; i < n; i++) {
        enum safetensors_dtype d = entries[i].dtype;
        DF_FAIL_IF(raw && raw[i] ? safetensors_dtype_size(d) == 0
                                 : d != SAFETENSORS_DTYPE_F32 && d != SAFETENSORS_DTYPE_F16 &&
                                       d != SAFETENSORS_DTYPE_BF16,
                   err, DF_E_INVAL, "%s: tensor '%s': can only write F32, F16, BF16", path,
                   entries[i].name);
        DF_FAIL_IF(entries[i].ndim < 0 || entries[i].ndim > SAFETENSORS_MAX_DIMS, err,
                   DF_E_INVAL, "%s: tensor '%s': bad ndim %d", path, entries[i].name,
                   entries[i].ndim);
        for (int j = 0; j < i; j++)
            DF_FAIL_IF(strcmp(entries[i].name, entries[j].name) == 0, err, DF_E_INVAL,
                       "%s: tensor '%s' given twice", path, entries[i].name);
    }
    size_t hlen = 0;
    char *hdr = build_header(entries, n, meta, n_meta, &hlen, err);
    if (!hdr)
        return err && err->code ? err->code : DF_E_NOMEM;
    char tmp[4096];
    int tl = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (tl < 0 || (size_t)tl >= sizeof tmp) {
        free(hdr);
        return df_err_set(err, DF_E_INVAL, "%s: path too long", path);
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(hdr);
        return df_err_errno(err, DF_E_IO, "%s: create", tmp);
    }
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++)
        lenb[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int bad = fwrite(lenb, 1, 8, f) != 8 || fwrite(hdr, 1, hlen, f) != hlen;
    free(hdr);
    for (int i = 0; i < n && !bad; i++)
        bad = write_data(f, &entries[i], raw ? raw[i] : NULL) < 0;
    bad |= fflush(f) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int rc = df_err_errno(err, DF_E_IO, "%s: write", path);
        unlink(tmp);
        return rc;
    }
    return 0;
}
