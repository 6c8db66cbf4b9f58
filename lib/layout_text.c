/*
 * layout_text.c -- layouts for people and tools: one-line descriptions, the
 * rank-to-node map, "why it wins / why it loses" sentences and JSON.
 *
 * The sentences name the cost component that makes the difference (compute,
 * all-to-all, ring passing, cfg exchange), so a user can see what to change:
 * more GPUs per node, fewer nodes, a size that pads less.
 */
#include "layout_int.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void layout_fmt_time(double s, char *buf, size_t cap)
{
    if (s >= 1)
        snprintf(buf, cap, "%.2f s", s);
    else if (s >= 1e-3)
        snprintf(buf, cap, "%.1f ms", s * 1e3);
    else
        snprintf(buf, cap, "%.0f us", s * 1e6);
}

/* "once", "3 times" (static buffer per call site is not needed: small table) */
static const char *times(int n)
{
    static const char *const t[] = {"0 times", "once", "twice", "3 times", "4 times", "5 times",
                                    "6 times", "7 times", "8 times", "9 times"};
    return n >= 0 && n < 10 ? t[n] : "many times";
}

static double pct(double part, double whole)
{
    return whole > 0 ? 100.0 * part / whole : 0;
}

void layout_addf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len = *len + (size_t)n < cap ? *len + (size_t)n : cap;
}

void layout_explain_win(struct layout *l)
{
    char *b = l->why;
    size_t cap = sizeof(l->why), n = 0;
    if (l->cfg == 2)
        layout_addf(b, cap, &n, "cfg 2 runs the two guidance branches on separate rank groups "
                        "(one exchange per step)");
    else if (l->cfg_branches == 2)
        layout_addf(b, cap, &n, "cfg 1 batches both guidance branches on every rank");
    else
        layout_addf(b, cap, &n, "one guidance branch (no CFG)");
    if (l->ulysses > 1)
        layout_addf(b, cap, &n, "; ulysses %d %s (all-to-all %.0f%% of the step)", l->ulysses,
            l->uly_intra ? "inside a node" : "across nodes", pct(l->t_uly, l->t_step));
    if (l->ring > 1) {
        double hidden = l->t_ring_total > 0 ? 1 - l->t_ring / l->t_ring_total : 1;
        layout_addf(b, cap, &n, "; ring %d %s passes K/V %s, %.0f%% hidden behind attention",
                    l->ring, l->ring_inter ? "across nodes" : "inside a node", times(l->ring - 1),
                    100.0 * hidden);
    }
    if (l->ulysses * l->ring == 1)
        layout_addf(b, cap, &n, "; no sequence split");
    if (l->pad_tokens > 0)
        layout_addf(b, cap, &n, "; %lld pad tokens (%.2f%%)", (long long)l->pad_tokens, l->pad_pct);
}

/* The component (0 compute, 1 ulysses, 2 ring, 3 cfg) that grows most. */
static int worst_component(const struct layout *best, const struct layout *alt, double *delta)
{
    double d[4] = {alt->t_compute - best->t_compute, alt->t_uly - best->t_uly,
                   alt->t_ring - best->t_ring, alt->t_cfg - best->t_cfg};
    int k = 0;
    for (int i = 1; i < 4; i++)
        if (d[i] > d[k])
            k = i;
    *delta = d[k];
    return k;
}

static void explain_compute(const struct layout *best, const struct layout *alt, char *buf,
                            size_t cap, const char *dt)
{
    if (alt->world < best->world)
        snprintf(buf, cap, "%d ranks instead of %d leave more compute per rank (+%s)",
                 alt->world, best->world, dt);
    else if (alt->pad_pct > best->pad_pct + 1e-9)
        snprintf(buf, cap, "padding to %lld tokens (%.2f%%) wastes compute (+%s)",
                 (long long)alt->seq_padded, alt->pad_pct, dt);
    else if (alt->cfg < best->cfg)
        snprintf(buf, cap, "cfg 1 repeats the text-side work of both branches on every rank "
                 "(+%s compute)", dt);
    else
        snprintf(buf, cap, "%lld-token chunks run the GEMMs less efficiently (+%s compute)",
                 (long long)alt->chunk, dt);
}

void layout_explain_loss(const struct layout *best, const struct layout *alt, char *buf,
                         size_t cap)
{
    double delta;
    int k = worst_component(best, alt, &delta);
    char dt[32];
    layout_fmt_time(delta, dt, sizeof(dt));
    if (delta <= 0 || alt->t_step - best->t_step < 1e-4 * best->t_step) {
        snprintf(buf, cap, "same predicted time; %s",
                 alt->world > best->world ? "uses more ranks for no gain"
                 : alt->cfg < best->cfg   ? "cfg 2 is preferred (no traffic between branches)"
                                          : "ranked lower on ties (more ring, or more nodes)");
        return;
    }
    switch (k) {
    case 0:
        explain_compute(best, alt, buf, cap, dt);
        break;
    case 1:
        snprintf(buf, cap, "all-to-all of ulysses %d %s costs %s per step more", alt->ulysses,
                 alt->uly_intra ? "inside a node" : "across nodes", dt);
        break;
    case 2:
        snprintf(buf, cap, "ring %d passes K/V %s %s, %s per step more not hidden "
                 "behind attention", alt->ring, times(alt->ring - 1),
                 alt->ring_inter ? "across nodes" : "inside a node", dt);
        break;
    default:
        snprintf(buf, cap, "the cfg exchange %s costs %s per step more",
                 alt->cfg_inter ? "across nodes" : "inside a node", dt);
        break;
    }
}

int layout_describe(const struct layout *l, char *buf, size_t cap)
{
    return snprintf(buf, cap, "cfg %d x ulysses %d x ring %d = %d rank%s on %d node%s x %d",
                    l->cfg, l->ulysses, l->ring, l->world, l->world == 1 ? "" : "s", l->nodes,
                    l->nodes == 1 ? "" : "s", l->ranks_per_node);
}

/* "3" or "0-3" */
static void span(int lo, int hi, char *buf, size_t cap)
{
    if (lo == hi)
        snprintf(buf, cap, "%d", lo);
    else
        snprintf(buf, cap, "%d-%d", lo, hi);
}

int layout_describe_map(const struct layout *l, int max_lines, char *buf, size_t cap)
{
    size_t n = 0;
    int total = 0;
    if (cap)
        buf[0] = 0;
    for (int node = 0; node < l->nodes; node++) {
        int lo = node * l->ranks_per_node, hi = lo + l->ranks_per_node - 1;
        int c0, r0, u0, c1, r1, u1;
        if (layout_rank_coords(l, lo, &c0, &r0, &u0, NULL) < 0 ||
            layout_rank_coords(l, hi, &c1, &r1, &u1, NULL) < 0)
            break;
        if (node >= max_lines) {
            total += snprintf(NULL, 0, "... %d more nodes\n", l->nodes - node);
            layout_addf(buf, cap, &n, "... %d more nodes\n", l->nodes - node);
            break;
        }
        char rk[32], cs[32], rs[32], us[32];
        span(lo, hi, rk, sizeof(rk));
        span(c0, c1, cs, sizeof(cs));
        /* a node holds whole ulysses groups (or a slice of one) */
        span(c0 == c1 ? r0 : 0, c0 == c1 ? r1 : l->ring - 1, rs, sizeof(rs));
        span(hi - lo + 1 >= l->ulysses ? 0 : u0, hi - lo + 1 >= l->ulysses ? l->ulysses - 1 : u1,
             us, sizeof(us));
        const char *pl = lo == hi ? "" : "s";
        total += snprintf(NULL, 0, "node %d: rank%s %s = cfg %s, ring %s, ulysses %s\n", node, pl,
                          rk, cs, rs, us);
        layout_addf(buf, cap, &n, "node %d: rank%s %s = cfg %s, ring %s, ulysses %s\n", node, pl,
                    rk, cs, rs, us);
    }
    return total;
}

struct cJSON *layout_to_json(const struct layout *l)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    const struct {
        const char *k;
        double v;
    } nums[] = {
        {"cfg", l->cfg},
        {"ulysses", l->ulysses},
        {"ring", l->ring},
        {"world", l->world},
        {"ranks_offered", l->ranks_offered},
        {"nodes", l->nodes},
        {"ranks_per_node", l->ranks_per_node},
        {"seq_len", (double)l->seq_len},
        {"seq_padded", (double)l->seq_padded},
        {"chunk", (double)l->chunk},
        {"pad_tokens", (double)l->pad_tokens},
        {"last_valid", (double)l->last_valid},
        {"empty_ranks", l->empty_ranks},
        {"pad_pct", l->pad_pct},
        {"t_step", l->t_step},
        {"t_compute", l->t_compute},
        {"t_uly", l->t_uly},
        {"t_ring", l->t_ring},
        {"t_ring_total", l->t_ring_total},
        {"t_cfg", l->t_cfg},
        {"mem_per_rank", l->mem_per_rank},
        {"mem_capacity", l->mem_capacity},
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        ok &= cJSON_AddNumberToObject(o, nums[i].k, nums[i].v) != NULL;
    ok &= cJSON_AddBoolToObject(o, "uly_intra", l->uly_intra) != NULL;
    ok &= cJSON_AddBoolToObject(o, "ring_inter", l->ring_inter) != NULL;
    ok &= cJSON_AddBoolToObject(o, "cfg_inter", l->cfg_inter) != NULL;
    ok &= cJSON_AddStringToObject(o, "why", l->why) != NULL;
    if (l->idle[0])
        ok &= cJSON_AddStringToObject(o, "idle", l->idle) != NULL;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
