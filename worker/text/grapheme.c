/*
 * grapheme.c -- extended grapheme cluster boundaries (Unicode UAX #29), the
 * unit tokenizers' Precompiled normalizer works on (unicode-segmentation's
 * graphemes(true)).  Rules GB3-GB13 including GB9c (Indic conjuncts); the
 * property data is generated into text_tables.c.
 */
#include "text_int.h"

enum gcb_prop {
    GCB_OTHER, GCB_CR, GCB_LF, GCB_CONTROL, GCB_EXTEND, GCB_ZWJ, GCB_RI, GCB_PREPEND,
    GCB_SPACINGMARK, GCB_L, GCB_V, GCB_T, GCB_LV, GCB_LVT
};
enum incb_prop { INCB_NONE, INCB_LINKER, INCB_CONSONANT, INCB_EXTEND };

static const struct text_gcb_range *lookup(uint32_t cp)
{
    size_t lo = 0, hi = text_gcb_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < text_gcb_ranges[mid].lo)
            hi = mid;
        else if (cp > text_gcb_ranges[mid].hi)
            lo = mid + 1;
        else
            return &text_gcb_ranges[mid];
    }
    return NULL;
}

struct gprops {
    int gcb, ext_pict, incb;
};

static struct gprops props(uint32_t cp)
{
    const struct text_gcb_range *r = lookup(cp);
    struct gprops p = {GCB_OTHER, 0, INCB_NONE};
    if (r) {
        p.gcb = r->gcb;
        p.ext_pict = r->ext_pict;
        p.incb = r->incb;
    }
    return p;
}

/* State carried along a cluster for the rules that look back further than one
 * code point (GB9c, GB11, GB12/13). */
struct gstate {
    int incb_seen_consonant; /* Consonant [Extend Linker]* so far */
    int incb_seen_linker;    /* ... with a Linker among them */
    int emoji_seq;           /* ExtPict Extend* so far */
    int emoji_zwj;           /* ... followed by ZWJ (the previous code point) */
    int ri_count;            /* regional indicators in a row before this one */
};

static void advance(struct gstate *st, struct gprops p)
{
    if (p.incb == INCB_CONSONANT) {
        st->incb_seen_consonant = 1;
        st->incb_seen_linker = 0;
    } else if (st->incb_seen_consonant && p.incb == INCB_LINKER) {
        st->incb_seen_linker = 1;
    } else if (!(st->incb_seen_consonant && p.incb == INCB_EXTEND)) {
        st->incb_seen_consonant = st->incb_seen_linker = 0;
    }
    st->emoji_zwj = st->emoji_seq && p.gcb == GCB_ZWJ;
    if (p.ext_pict)
        st->emoji_seq = 1;
    else if (!(st->emoji_seq && p.gcb == GCB_EXTEND))
        st->emoji_seq = 0;
    st->ri_count = p.gcb == GCB_RI ? st->ri_count + 1 : 0;
}

/* 1 when there is no boundary between a (with state st) and b. */
static int no_break(struct gprops a, struct gprops b, const struct gstate *st)
{
    if (a.gcb == GCB_CR && b.gcb == GCB_LF)
        return 1; /* GB3 */
    if (a.gcb == GCB_CR || a.gcb == GCB_LF || a.gcb == GCB_CONTROL)
        return 0; /* GB4 */
    if (b.gcb == GCB_CR || b.gcb == GCB_LF || b.gcb == GCB_CONTROL)
        return 0; /* GB5 */
    if (a.gcb == GCB_L && (b.gcb == GCB_L || b.gcb == GCB_V || b.gcb == GCB_LV || b.gcb == GCB_LVT))
        return 1; /* GB6 */
    if ((a.gcb == GCB_LV || a.gcb == GCB_V) && (b.gcb == GCB_V || b.gcb == GCB_T))
        return 1; /* GB7 */
    if ((a.gcb == GCB_LVT || a.gcb == GCB_T) && b.gcb == GCB_T)
        return 1; /* GB8 */
    if (b.gcb == GCB_EXTEND || b.gcb == GCB_ZWJ)
        return 1; /* GB9 */
    if (b.gcb == GCB_SPACINGMARK)
        return 1; /* GB9a */
    if (a.gcb == GCB_PREPEND)
        return 1; /* GB9b */
    if (b.incb == INCB_CONSONANT && st->incb_seen_consonant && st->incb_seen_linker &&
        (a.incb == INCB_LINKER || a.incb == INCB_EXTEND))
        return 1; /* GB9c */
    if (st->emoji_zwj && a.gcb == GCB_ZWJ && b.ext_pict)
        return 1; /* GB11 */
    if (a.gcb == GCB_RI && b.gcb == GCB_RI && st->ri_count % 2 == 1)
        return 1; /* GB12, GB13 */
    return 0;     /* GB999 */
}

size_t grapheme_next(const char *s, size_t n)
{
    size_t l;
    uint32_t cp = utf8_decode(s, n, &l);
    struct gprops a = props(cp);
    struct gstate st = {0};
    advance(&st, a);
    size_t i = l;
    while (i < n) {
        uint32_t c2 = utf8_decode(s + i, n - i, &l);
        struct gprops b = props(c2);
        if (!no_break(a, b, &st))
            break;
        advance(&st, b);
        a = b;
        i += l;
    }
    return i;
}
