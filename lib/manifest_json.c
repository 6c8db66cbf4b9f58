/* manifest_json.c -- the normalized manifest as JSON, and the shot hash.
 *
 * The JSON uses the manifest's own keys, so it loads again as a manifest (JSON
 * is YAML).  Computed facts go under "x-" keys, which the loader ignores. */
#include "manifest_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* cJSON's adders return NULL on failure; one check at the end (cJSON_Add*
 * on a NULL object is a no-op) keeps the builders readable. */
static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
}

static cJSON *int_array(const int *v, int n)
{
    return cJSON_CreateIntArray(v, n);
}

static cJSON *cache_json(const struct shot_cache *c)
{
    cJSON *o = cJSON_CreateObject();
    add_str(o, "policy", cache_policy_name(c->policy));
    cJSON_AddNumberToObject(o, "threshold", c->threshold);
    add_str(o, "mode", cache_mode_name(c->mode));
    cJSON_AddNumberToObject(o, "thresh_lo", c->thresh_lo);
    cJSON_AddNumberToObject(o, "thresh_hi", c->thresh_hi);
    cJSON_AddNumberToObject(o, "k", c->k);
    cJSON_AddNumberToObject(o, "cfg_threshold", c->cfg_threshold);
    return o;
}

static cJSON *geom_json(const struct model_geom *g)
{
    cJSON *o = cJSON_CreateObject();
    add_str(o, "name", g->name);
    add_str(o, "family", g->family);
    cJSON_AddNumberToObject(o, "num_layers", g->num_layers);
    cJSON_AddNumberToObject(o, "num_heads", g->num_heads);
    cJSON_AddNumberToObject(o, "head_dim", g->head_dim);
    cJSON_AddNumberToObject(o, "hidden", g->hidden);
    cJSON_AddNumberToObject(o, "ffn_dim", g->ffn_dim);
    cJSON_AddNumberToObject(o, "in_channels", g->in_channels);
    cJSON_AddNumberToObject(o, "out_channels", g->out_channels);
    cJSON_AddNumberToObject(o, "text_dim", g->text_dim);
    cJSON_AddNumberToObject(o, "text_len", g->text_len);
    cJSON_AddNumberToObject(o, "freq_dim", g->freq_dim);
    cJSON_AddItemToObject(o, "patch", int_array(g->patch, 3));
    cJSON_AddItemToObject(o, "vae_stride", int_array(g->vae_stride, 3));
    cJSON_AddBoolToObject(o, "joint_text", g->joint_text);
    return o;
}

static cJSON *str_array(char *const *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        if (v[i])
            cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

static cJSON *output_json(const struct shot_output *o)
{
    cJSON *j = cJSON_CreateObject();
    add_str(j, "path", o->path);
    add_str(j, "codec", codec_name(o->codec));
    if (o->crf >= 0)
        cJSON_AddNumberToObject(j, "crf", o->crf);
    if (o->bitrate > 0)
        cJSON_AddNumberToObject(j, "bitrate", (double)o->bitrate);
    add_str(j, "pix_fmt", o->pix_fmt);
    add_str(j, "audio", o->audio);
    return j;
}

static cJSON *resources_json(const struct shot_resources *r)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "max_gpus", r->max_gpus);
    if (r->time_limit_min > 0)
        cJSON_AddNumberToObject(j, "time_limit", r->time_limit_min);
    if (r->partition[0])
        add_str(j, "partition", r->partition);
    if (r->account[0])
        add_str(j, "account", r->account);
    if (r->qos[0])
        add_str(j, "qos", r->qos);
    return j;
}

/* What determines the latents (shared by the JSON and the hash). */
static void add_render_keys(cJSON *o, const struct shot *s)
{
    add_str(o, "prompt", s->prompt);
    add_str(o, "negative_prompt", s->negative_prompt);
    add_str(o, "prompt_embeds", s->prompt_embeds);
    add_str(o, "negative_prompt_embeds", s->negative_prompt_embeds);
    cJSON_AddNumberToObject(o, "width", s->width);
    cJSON_AddNumberToObject(o, "height", s->height);
    cJSON_AddNumberToObject(o, "frames", s->frames);
    cJSON_AddNumberToObject(o, "steps", s->steps);
    cJSON_AddNumberToObject(o, "guidance_scale", s->guidance_scale);
    cJSON_AddBoolToObject(o, "dynamic_cfg", s->dynamic_cfg);
    add_str(o, "sampler", sampler_kind_name(s->sampler));
    cJSON_AddNumberToObject(o, "flow_shift", s->flow_shift);
    cJSON_AddNumberToObject(o, "seed", (double)s->seed);
    cJSON_AddItemToObject(o, "cache", cache_json(&s->cache));
}

void *manifest_shot_to_json(const struct shot *s)
{
    cJSON *o = cJSON_CreateObject();
    add_str(o, "id", s->id);
    add_str(o, "model", s->model);
    add_render_keys(o, s);
    cJSON_AddNumberToObject(o, "fps", s->fps);
    cJSON *ck = cJSON_AddObjectToObject(o, "checkpoint");
    cJSON_AddNumberToObject(ck, "every_steps", s->checkpoint.every_steps);
    cJSON_AddNumberToObject(ck, "every_minutes", s->checkpoint.every_minutes);
    cJSON_AddNumberToObject(ck, "keep", s->checkpoint.keep);
    cJSON_AddItemToObject(o, "output", output_json(&s->output));
    cJSON_AddNumberToObject(o, "priority", s->priority);
    cJSON_AddItemToObject(o, "after", str_array(s->after, s->n_after));
    cJSON_AddItemToObject(o, "notify", str_array(s->notify, s->n_notify));
    cJSON_AddItemToObject(o, "resources", resources_json(&s->resources));
    cJSON_AddBoolToObject(o, "x-seed-drawn", s->seed_random);
    cJSON *grid = cJSON_AddObjectToObject(o, "x-grid");
    cJSON_AddItemToObject(grid, "latent", int_array(s->grid.latent, 3));
    cJSON_AddItemToObject(grid, "tokens", int_array(s->grid.tokens, 3));
    cJSON_AddNumberToObject(grid, "seq_len", (double)s->grid.seq_len);
    cJSON_AddItemToObject(o, "x-geometry", geom_json(&s->geom));
    char hash[20];
    snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)manifest_shot_hash(s));
    add_str(o, "x-hash", hash);
    return o;
}

void *manifest_to_json(const struct manifest *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    add_str(o, "name", m->name);
    add_str(o, "x-source", m->path);
    cJSON *shots = cJSON_AddArrayToObject(o, "shots");
    for (size_t i = 0; shots && i < m->n_shots; i++) {
        cJSON *s = manifest_shot_to_json(&m->shots[i]);
        if (!s || !cJSON_AddItemToArray(shots, s)) {
            cJSON_Delete(s);
            cJSON_Delete(o);
            return NULL;
        }
    }
    if (!shots) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

uint64_t manifest_shot_hash(const struct shot *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "geometry", geom_json(&s->geom));
    add_render_keys(o, s);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    /* FNV-1a, 64-bit.  Out of memory gives the hash of nothing, which no real
     * shot has; a checkpoint check then fails safe (mismatch). */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)text; p && *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    cJSON_free(text);
    return h;
}
