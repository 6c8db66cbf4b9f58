/* text_nfc.c -- Unicode NFC (what ftfy's final unicodedata.normalize("NFC")
 * does): full canonical decomposition (Hangul algorithmically), canonical
 * ordering by combining class, then canonical composition with the primary
 * composites of text_tables.c (composition exclusions already left out by the
 * generator). */
#include "text_int.h"

#include <stdlib.h>
#include <string.h>

#define S_BASE 0xAC00u
#define L_BASE 0x1100u
#define V_BASE 0x1161u
#define T_BASE 0x11A7u
#define L_COUNT 19u
#define V_COUNT 21u
#define T_COUNT 28u
#define N_COUNT (V_COUNT * T_COUNT)
#define S_COUNT (L_COUNT * N_COUNT)

int ustr_push(struct ustr *u, uint32_t cp)
{
    if (u->n == u->cap) {
        size_t c = u->cap ? u->cap * 2 : 64;
        uint32_t *v = realloc(u->v, c * sizeof(*v));
        if (!v)
            return DF_E_NOMEM;
        u->v = v;
        u->cap = c;
    }
    u->v[u->n++] = cp;
    return 0;
}

int ustr_push_utf8(struct ustr *u, const char *s)
{
    size_t n = strlen(s), i = 0, l;
    while (i < n) {
        if (ustr_push(u, utf8_decode(s + i, n - i, &l)) < 0)
            return DF_E_NOMEM;
        i += l;
    }
    return 0;
}

void ustr_free(struct ustr *u)
{
    free(u->v);
    memset(u, 0, sizeof(*u));
}

static int ccc(uint32_t cp)
{
    size_t lo = 0, hi = text_ccc_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < text_ccc_ranges[mid].lo)
            hi = mid;
        else if (cp > text_ccc_ranges[mid].hi)
            lo = mid + 1;
        else
            return text_ccc_ranges[mid].ccc;
    }
    return 0;
}

static const struct text_decomp *decomp(uint32_t cp)
{
    size_t lo = 0, hi = text_decomps_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < text_decomps[mid].cp)
            hi = mid;
        else if (cp > text_decomps[mid].cp)
            lo = mid + 1;
        else
            return &text_decomps[mid];
    }
    return NULL;
}

static uint32_t compose(uint32_t a, uint32_t b)
{
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE &&
        b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    size_t lo = 0, hi = text_comps_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct text_comp *c = &text_comps[mid];
        if (a < c->a || (a == c->a && b < c->b))
            hi = mid;
        else if (a > c->a || b > c->b)
            lo = mid + 1;
        else
            return c->c;
    }
    return 0;
}

static int decompose(uint32_t cp, struct ustr *out, int depth)
{
    if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
        uint32_t s = cp - S_BASE;
        if (ustr_push(out, L_BASE + s / N_COUNT) < 0 || ustr_push(out, V_BASE + (s % N_COUNT) / T_COUNT) < 0)
            return DF_E_NOMEM;
        return s % T_COUNT ? ustr_push(out, T_BASE + s % T_COUNT) : 0;
    }
    const struct text_decomp *d = depth < 8 ? decomp(cp) : NULL;
    if (!d)
        return ustr_push(out, cp);
    DF_TRY(decompose(d->a, out, depth + 1));
    return d->b ? decompose(d->b, out, depth + 1) : 0;
}

int text_nfc(const struct ustr *in, struct ustr *out)
{
    out->n = 0;
    for (size_t i = 0; i < in->n; i++)
        DF_TRY(decompose(in->v[i], out, 0));
    /* canonical ordering: stable insertion sort inside each run of non-starters */
    for (size_t i = 1; i < out->n; i++) {
        int c = ccc(out->v[i]);
        if (c == 0)
            continue;
        for (size_t k = i; k > 0; k--) {
            int p = ccc(out->v[k - 1]);
            if (p <= c)
                break;
            uint32_t t = out->v[k];
            out->v[k] = out->v[k - 1];
            out->v[k - 1] = t;
        }
    }
    /* canonical composition */
    if (out->n == 0)
        return 0;
    size_t starter = SIZE_MAX, w = 0;
    int last_ccc = -1;
    for (size_t i = 0; i < out->n; i++) {
        uint32_t c = out->v[i];
        int cc = ccc(c);
        /* blocked: something between the starter and c is a starter or has a
         * combining class >= c's */
        int blocked = last_ccc != -1 && last_ccc >= cc;
        if (starter != SIZE_MAX && !blocked) {
            uint32_t comp = compose(out->v[starter], c);
            if (comp) {
                out->v[starter] = comp;
                continue;
            }
        }
        if (cc == 0) {
            starter = w;
            last_ccc = -1;
        } else
            last_ccc = cc;
        out->v[w++] = c;
    }
    out->n = w;
    return 0;
}
