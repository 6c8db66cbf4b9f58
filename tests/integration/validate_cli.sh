#!/usr/bin/env bash
# `ditfarm validate`: every shipped example validates, bad files print every
# error as file:line:col lines and exit 1, usage errors exit 2, --json output
# is itself a manifest that validates to the same shots.
set -u
S="${DF_SOURCE_DIR:?}"
B="${DF_BUILD_DIR:?}"
D="$B/daemon/ditfarm"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }

# 1. Every example validates (top-level files; common/ holds included pieces).
for f in "$S"/configs/examples/*.yaml; do
    if "$D" validate "$f" >"$tmp/out" 2>&1; then
        ok "example $(basename "$f")"
    else
        bad "example $(basename "$f")"; cat "$tmp/out"
    fi
done

# 2. The summary line of the demo.
cd "$S"
"$D" validate configs/examples/demo.yaml >"$tmp/out" 2>&1
want="configs/examples/demo.yaml: OK (2 shots)
  red-sunrise: tiny 64x64, 9 frames, 8 steps, euler, latent 3x8x8, tokens 3x4x4 = 48, seed 42
  blue-forest: tiny 64x64, 9 frames, 8 steps, unipc, latent 3x8x8, tokens 3x4x4 = 48, seed 7"
if [ "$(cat "$tmp/out")" = "$want" ]; then ok "demo summary"; else bad "demo summary"; cat "$tmp/out"; fi

# 3. Errors: all of them, one per line, exit 1.
"$D" validate tests/data/bad/manifest/enums.yaml >"$tmp/out" 2>"$tmp/err"; rc=$?
[ "$rc" -eq 1 ] && ok "bad file exits 1" || bad "bad file exits $rc"
[ ! -s "$tmp/out" ] && ok "nothing on stdout for a bad file" || bad "stdout not empty"
grep -qxF "tests/data/bad/manifest/enums.yaml:5:21: error: shots[0].output.codec: unknown codec 'h265x' (did you mean 'hevc'?)" "$tmp/err" \
    && ok "codec message" || { bad "codec message"; cat "$tmp/err"; }
[ "$(wc -l <"$tmp/err")" -eq 7 ] && ok "all 7 errors reported" || { bad "error count"; cat "$tmp/err"; }

# 4. Several files: each reported, exit 1 when any fails.
"$D" validate configs/examples/demo.yaml tests/data/bad/manifest/tabs.yaml >"$tmp/out" 2>"$tmp/err"; rc=$?
[ "$rc" -eq 1 ] && grep -q "demo.yaml: OK" "$tmp/out" \
    && grep -qxF "tests/data/bad/manifest/tabs.yaml:3:1: error: tab character: YAML indentation must use spaces, not tabs" "$tmp/err" \
    && ok "several files" || { bad "several files"; cat "$tmp/out" "$tmp/err"; }

# 5. Missing file, directory, oversized file, binary garbage: clear lines, exit 1.
"$D" validate "$tmp/nope.yaml" 2>"$tmp/err"; rc=$?
[ "$rc" -eq 1 ] && grep -qxF "$tmp/nope.yaml: error: cannot read the manifest: No such file or directory" "$tmp/err" \
    && ok "missing file" || { bad "missing file ($rc)"; cat "$tmp/err"; }
truncate -s 100M "$tmp/big.yaml"
"$D" validate "$tmp/big.yaml" 2>"$tmp/err"; rc=$?
[ "$rc" -eq 1 ] && grep -qF "more than the 16777216-byte limit" "$tmp/err" \
    && ok "100 MB file refused" || { bad "big file ($rc)"; cat "$tmp/err"; }
head -c 4096 /dev/urandom >"$tmp/garbage.yaml"
"$D" validate "$tmp/garbage.yaml" 2>"$tmp/err"; rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -ge 1 ] && ok "random bytes" || { bad "random bytes ($rc)"; cat "$tmp/err"; }

# 6. Usage errors exit 2.
"$D" validate >/dev/null 2>&1; rc=$?; [ "$rc" -eq 2 ] && ok "no file: exit 2" || bad "no file: exit $rc"
"$D" validate --frob x.yaml >/dev/null 2>&1; rc=$?; [ "$rc" -eq 2 ] && ok "bad flag: exit 2" || bad "bad flag: exit $rc"
"$D" validate --configs /nonexistent configs/examples/demo.yaml >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] && ok "bad --configs: exit 2" || bad "bad --configs: exit $rc"
"$D" validate --help | grep -q "^usage: ditfarm validate" && ok "--help" || bad "--help"
"$D" --help | grep -q "validate" && ok "listed in ditfarm --help" || bad "not in ditfarm --help"

# 7. --configs and DITFARM_CONFIGS pick the models directory.
"$D" validate --configs "$S/configs" configs/examples/demo.yaml >/dev/null 2>&1 && ok "--configs" || bad "--configs"
mkdir -p "$tmp/cfg/models"
DITFARM_CONFIGS="$tmp/cfg" "$D" validate configs/examples/demo.yaml 2>"$tmp/err"; rc=$?
[ "$rc" -eq 1 ] && grep -qF "unknown model 'tiny'" "$tmp/err" && ok "DITFARM_CONFIGS is used" \
    || { bad "DITFARM_CONFIGS ($rc)"; cat "$tmp/err"; }

# 8. --json: normalized, seeds drawn and recorded; the output validates again
#    with the same seeds and hashes.
"$D" validate --json configs/examples/wan-480p-episode.yaml >"$tmp/n.json" 2>"$tmp/err" \
    && ok "--json" || { bad "--json"; cat "$tmp/err"; }
python3 - "$tmp/n.json" <<'PY' && ok "json content" || bad "json content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["name"] == "episode-01"
shots = {s["id"]: s for s in d["shots"]}
assert list(shots) == ["opening", "harbor", "storm"]
h = shots["harbor"]
assert h["x-seed-drawn"] is True and isinstance(h["seed"], int)
assert h["cache"]["policy"] == "prompttea" and h["after"] == ["opening"]
s = shots["storm"]
assert s["output"]["codec"] == "prores" and "crf" not in s["output"]
assert s["resources"] == {"max_gpus": 8, "time_limit": 240, "partition": "gpu"}
assert shots["opening"]["x-grid"]["seq_len"] == 32760
assert shots["opening"]["steps"] == 40 and shots["opening"]["cache"]["policy"] == "teacache"
PY
"$D" validate --json "$tmp/n.json" >"$tmp/n2.json" 2>"$tmp/err" || { bad "json revalidates"; cat "$tmp/err"; }
python3 - "$tmp/n.json" "$tmp/n2.json" <<'PY' && ok "json round trip keeps seeds and hashes" || bad "json round trip"
import json, sys
a = json.load(open(sys.argv[1]))["shots"]
b = json.load(open(sys.argv[2]))["shots"]
assert [s["seed"] for s in a] == [s["seed"] for s in b]
assert [s["x-hash"] for s in a] == [s["x-hash"] for s in b]
assert not any(s["x-seed-drawn"] for s in b)
PY
"$D" validate --json configs/examples/demo.yaml configs/examples/wan-14b-720p.yaml >"$tmp/two.json" \
    && python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert [m['name'] for m in d]==['demo','trailer']" "$tmp/two.json" \
    && ok "--json with two files is an array" || bad "--json array"

exit $fail
