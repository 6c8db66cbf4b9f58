#!/usr/bin/env python3
"""Generate worker/text/text_tables.c: the Unicode and HTML data worker/text needs.

  - grapheme cluster break properties (UAX #29: Grapheme_Cluster_Break,
    Extended_Pictographic, Indic_Conjunct_Break), read from the `regex`
    module's Unicode tables with \\p{...} over every code point;
  - the HTML5 named character references, from Python's html.entities.html5
    (what html.unescape uses);
  - the code points of Rust regex's \\w (UTS #18), from the regex module;
  - ftfy's extra tables (computed the way ftfy builds them): upper-cased
    entity names it also decodes, the half/full-width map; and html.unescape's
    replacements for invalid numeric character references;
  - ftfy's mojibake detectors (BADNESS_RE re-spelled for text_regex.c,
    the UTF8_CLUES classes);
  - canonical decompositions, combining classes and primary composites for NFC,
    from Python's unicodedata (what ftfy's NFC uses).

Run:  /work/fixenv/bin/python scripts/gen_text_tables.py > worker/text/text_tables.c
"""
import html.entities
import sys
import unicodedata

import regex

GCB = ["Other", "CR", "LF", "Control", "Extend", "ZWJ", "Regional_Indicator", "Prepend",
       "SpacingMark", "L", "V", "T", "LV", "LVT"]
INCB = ["None", "Linker", "Consonant", "Extend"]


def all_chars():
    return "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


def prop_ranges(s, pattern):
    out = []
    for m in regex.finditer(pattern + "+", s):
        lo, hi = ord(m.group(0)[0]), ord(m.group(0)[-1])
        # the string skips surrogates, so a run is contiguous except across them
        if lo < 0xD800 < hi:
            out += [(lo, 0xD7FF), (0xE000, hi)]
        else:
            out.append((lo, hi))
    return out


def c_str(b):
    """A C string literal of bytes b; a hex escape followed by a hex digit
    closes and reopens the literal (C's \\x takes every hex digit after it)."""
    out, prev_hex = [], False
    for x in b:
        esc = x < 0x20 or x >= 0x7f or x in (0x22, 0x5c, 0x3f)
        if esc:
            out.append(f"\\x{x:02x}")
        else:
            if prev_hex and chr(x) in "0123456789abcdefABCDEF":
                out.append('" "')
            out.append(chr(x))
        prev_hex = esc
    return '"' + "".join(out) + '"'


def badness_pattern(compiled):
    """ftfy's BADNESS_RE re-spelled in text_regex.c's syntax (classes of
    literal code points and ranges, \\s, \\w, '.', '?', '^', top-level '|')."""
    try:
        import re._parser as sre
    except ImportError:  # Python < 3.11
        import sre_parse as sre
    special = set("\\.^$|?*+()[]{}-/ ")

    def lit(c, in_class):
        ch = chr(c)
        return "\\" + ch if ch in special else ch

    def item(op, av):
        op = str(op)
        if op == "LITERAL":
            return lit(av, False)
        if op == "ANY":
            return "."
        if op == "AT":
            assert str(av) == "AT_BEGINNING", av
            return "^"
        if op == "MAX_REPEAT":
            lo, hi, sub = av
            assert (lo, hi) == (0, 1) and len(sub) == 1, av
            return item(*sub[0]) + "?"
        assert op == "IN", op
        if len(av) == 1 and str(av[0][0]) == "CATEGORY":
            return {"CATEGORY_SPACE": "\\s", "CATEGORY_WORD": "\\w"}[str(av[0][1])]
        out, neg = [], False
        for o, a in av:
            o = str(o)
            if o == "NEGATE":
                neg = True
            elif o == "LITERAL":
                out.append(lit(a, True))
            elif o == "RANGE":
                out.append(lit(a[0], True) + "-" + lit(a[1], True))
            else:
                raise ValueError(o)
        return "[" + ("^" if neg else "") + "".join(out) + "]"

    def specific(op, av):
        """Code points of an item that is a literal or a plain class of
        non-ASCII characters (None for \\s, \\w, '.', '^', negated or ASCII classes)."""
        op = str(op)
        if op == "LITERAL":
            return {av} if av >= 0x80 else None
        if op != "IN" or any(str(o) in ("NEGATE", "CATEGORY") for o, _ in av):
            return None
        cps = set()
        for o, a in av:
            cps |= {a} if str(o) == "LITERAL" else set(range(a[0], a[1] + 1))
        return cps if min(cps) >= 0x80 else None

    tree = sre.parse(compiled.pattern, compiled.flags)
    assert len(tree) == 1 and str(tree[0][0]) == "BRANCH"
    chars = set()
    for alt in tree[0][1][1]:
        sets = [specific(op, av) for op, av in alt]
        sets = [x for x in sets if x]
        assert sets, alt  # every alternative needs some non-ASCII character
        chars |= min(sets, key=len)
    return "|".join("".join(item(op, av) for op, av in alt) for alt in tree[0][1][1]), chars


def main():
    s = all_chars()
    per_cp = {}
    for i, name in enumerate(GCB[1:], 1):
        for lo, hi in prop_ranges(s, r"\p{Grapheme_Cluster_Break=%s}" % name):
            for c in range(lo, hi + 1):
                per_cp[c] = [i, 0, 0]
    for lo, hi in prop_ranges(s, r"\p{Extended_Pictographic}"):
        for c in range(lo, hi + 1):
            per_cp.setdefault(c, [0, 0, 0])[1] = 1
    for i, name in enumerate(INCB[1:], 1):
        for lo, hi in prop_ranges(s, r"\p{InCB=%s}" % name):
            for c in range(lo, hi + 1):
                per_cp.setdefault(c, [0, 0, 0])[2] = i
    rows = []
    for c in sorted(per_cp):
        v = tuple(per_cp[c])
        if rows and rows[-1][1] == c - 1 and rows[-1][2] == v:
            rows[-1][1] = c
        else:
            rows.append([c, c, v])

    w = sys.stdout.write
    w("/* text_tables.c -- GENERATED by scripts/gen_text_tables.py; do not edit.\n"
      f" * Grapheme break data from the regex module {regex.__version__}, HTML5 entities from\n"
      f" * Python {sys.version.split()[0]} html.entities.html5, NFC data from unicodedata {unicodedata.unidata_version}.\n"
      " * Regenerate: /work/fixenv/bin/python scripts/gen_text_tables.py > worker/text/text_tables.c */\n")
    w('#include "text_int.h"\n\n')
    w("const struct text_gcb_range text_gcb_ranges[] = {\n")
    for lo, hi, (g, x, ic) in rows:
        w(f"    {{0x{lo:X}, 0x{hi:X}, {g}, {x}, {ic}}},\n")
    w("};\nconst size_t text_gcb_n = sizeof(text_gcb_ranges) / sizeof(text_gcb_ranges[0]);\n\n")

    ents = sorted(html.entities.html5.items(), key=lambda kv: kv[0].encode())
    w("const struct text_entity text_entities[] = {\n")
    for name, val in ents:
        w(f"    {{{c_str(name.encode())}, {c_str(val.encode())}}},\n")
    w("};\nconst size_t text_entities_n = sizeof(text_entities) / sizeof(text_entities[0]);\n\n")

    # Rust regex \\w (UTS #18: Alphabetic, Mark, Decimal_Number,
    # Connector_Punctuation, Join_Control): added tokens' single_word test
    wr = []
    for lo, hi in prop_ranges(s, r"[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]"):
        if wr and wr[-1][1] == lo - 1:
            wr[-1][1] = hi
        else:
            wr.append([lo, hi])
    w("const struct text_range text_word_ranges[] = {\n")
    for lo, hi in wr:
        w(f"    {{0x{lo:X}, 0x{hi:X}}},\n")
    w("};\nconst size_t text_word_n = sizeof(text_word_ranges) / sizeof(text_word_ranges[0]);\n\n")

    # ftfy: "&NAME;" for lower-case names whose upper-case form is no entity
    ups = []
    for name, val in html.entities.html5.items():
        if name.endswith(";") and name == name.lower():
            up = "&" + name.upper()
            if html.unescape(up) == up:
                ups.append((name.upper().encode(), val.upper().encode()))
    ups.sort()
    w("const struct text_entity text_entities_upper[] = {\n")
    for name, val in ups:
        w(f"    {{{c_str(name)}, {c_str(val)}}},\n")
    w("};\nconst size_t text_entities_upper_n = sizeof(text_entities_upper) / sizeof(text_entities_upper[0]);\n\n")
    wm = {0x3000: " "}
    for i in range(0xFF01, 0xFFF0):
        alt = unicodedata.normalize("NFKC", chr(i))
        if alt != chr(i):
            wm[i] = alt
    w("const struct text_map text_width_map[] = {\n")
    for c in sorted(wm):
        w(f"    {{0x{c:X}, {c_str(wm[c].encode())}}},\n")
    w("};\nconst size_t text_width_map_n = sizeof(text_width_map) / sizeof(text_width_map[0]);\n\n")
    import html as _h
    w("const struct text_map text_invalid_charrefs[] = {\n")
    for c in sorted(_h._invalid_charrefs):
        w(f"    {{0x{c:X}, {c_str(_h._invalid_charrefs[c].encode())}}},\n")
    w("};\nconst size_t text_invalid_charrefs_n = sizeof(text_invalid_charrefs) / sizeof(text_invalid_charrefs[0]);\n\n")
    w("const uint32_t text_invalid_codepoints[] = {\n")
    for c in sorted(_h._invalid_codepoints):
        w(f"    0x{c:X},\n")
    w("};\nconst size_t text_invalid_codepoints_n = sizeof(text_invalid_codepoints) / sizeof(text_invalid_codepoints[0]);\n\n")

    # ftfy's mojibake detectors: BADNESS_RE as a pattern in text_regex.c's
    # subset, and the UTF8_CLUES classes of UTF8_DETECTOR_RE
    import ftfy.badness
    import ftfy.chardata
    w("const char text_badness_pattern[] =\n")
    pat, chars = badness_pattern(ftfy.badness.BADNESS_RE)
    for k in range(0, len(pat), 60):
        w("    " + c_str(pat[k:k + 60].encode()) + "\n")
    w(";\n\n")
    # every alternative needs at least one of these: text without any is not bad
    br = []
    for c in sorted(chars):
        if br and br[-1][1] == c - 1:
            br[-1][1] = c
        else:
            br.append([c, c])
    w("const struct text_range text_badness_chars[] = {\n")
    for lo, hi in br:
        w(f"    {{0x{lo:X}, 0x{hi:X}}},\n")
    w("};\nconst size_t text_badness_chars_n = sizeof(text_badness_chars) / sizeof(text_badness_chars[0]);\n\n")
    for name in ("utf8_first_of_2", "utf8_first_of_3", "utf8_first_of_4", "utf8_continuation",
                 "utf8_continuation_strict"):
        cps = sorted(set(regex.findall("[%s]" % ftfy.chardata.UTF8_CLUES[name], s)))
        w(f"const uint32_t text_{name}[] = {{")
        w(", ".join(f"0x{ord(c):X}" for c in cps))
        w(f"}};\nconst size_t text_{name}_n = {len(cps)};\n")
    w("\n")

    # NFC: canonical decomposition (one level), combining class, composites.
    dec, ccc, comp = [], [], []
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        ch = chr(c)
        cc = unicodedata.combining(ch)
        if cc:
            ccc.append((c, cc))
        d = unicodedata.decomposition(ch)
        if d and not d.startswith("<"):
            parts = [int(x, 16) for x in d.split()]
            dec.append((c, parts))
            if len(parts) == 2 and unicodedata.normalize("NFC", chr(parts[0]) + chr(parts[1])) == ch:
                comp.append((parts[0], parts[1], c))
    w("const struct text_decomp text_decomps[] = {\n")
    for c, parts in dec:
        p2 = parts[1] if len(parts) > 1 else 0
        w(f"    {{0x{c:X}, 0x{parts[0]:X}, 0x{p2:X}}},\n")
    w("};\nconst size_t text_decomps_n = sizeof(text_decomps) / sizeof(text_decomps[0]);\n\n")
    crow = []
    for c, cc in ccc:
        if crow and crow[-1][1] == c - 1 and crow[-1][2] == cc:
            crow[-1][1] = c
        else:
            crow.append([c, c, cc])
    w("const struct text_ccc_range text_ccc_ranges[] = {\n")
    for lo, hi, cc in crow:
        w(f"    {{0x{lo:X}, 0x{hi:X}, {cc}}},\n")
    w("};\nconst size_t text_ccc_n = sizeof(text_ccc_ranges) / sizeof(text_ccc_ranges[0]);\n\n")
    comp.sort()
    w("const struct text_comp text_comps[] = {\n")
    for a, b, c in comp:
        w(f"    {{0x{a:X}, 0x{b:X}, 0x{c:X}}},\n")
    w("};\nconst size_t text_comps_n = sizeof(text_comps) / sizeof(text_comps[0]);\n")


if __name__ == "__main__":
    main()
