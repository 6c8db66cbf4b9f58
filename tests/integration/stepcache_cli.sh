#!/usr/bin/env bash
# Step caching from the command line, on the demo model:
#  - `ditfarm-worker calibrate` writes a calibration the cache policy loads
#    (same tables as the committed configs/models/tiny/stepcache-euler-8.json),
#    reads prompts from a file, refuses bad command lines with exit 2;
#  - `ditfarm-worker cache-plan` prints a shot's decisions and predicted
#    speed-up (text and JSON) and refuses a setup without calibration.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
W="$B/worker/ditfarm-worker"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }

"$W" make-tiny "$S/configs/models/tiny" >/dev/null
"$W" calibrate "$S/configs/models/tiny" --sampler euler --steps 8 --shift 3 --n-prompts 4 \
    --name tiny --out cal.json >out.txt 2>err.txt || { cat err.txt; fail "calibrate failed"; }
grep -q "^wrote cal.json: euler 8 steps, 56 points; rms error teacache e" out.txt ||
    { cat out.txt; fail "summary line"; }
python3 - "$S/configs/models/tiny/stepcache-euler-8.json" cal.json <<'PY' || fail "file contents"
import json, sys
ref, new = (json.load(open(p)) for p in sys.argv[1:])
assert new["format"] == "ditfarm-stepcache/1" and new["model"] == "tiny", new["format"]
assert new["setup"] == {"sampler": "euler", "steps": 8, "shift": 3}, new["setup"]
assert len(new["teacache"]["e"]) == 5 and len(new["teacache"]["e0"]) == 5
assert len(new["prompttea"]["fit"]["weights"]) == 12
q, q0 = new["prompttea"]["cfg_table"], ref["prompttea"]["cfg_table"]
assert len(q) == 8 and all(abs(a - b) <= 1e-4 * abs(b) for a, b in zip(q, q0)), (q, q0)
assert len(new["provenance"]["prompts"]) == 4
PY
echo "ok: calibration written, tables match the committed file"

printf 'a cat\n\na dog running on a beach at sunset\n' >prompts.txt
"$W" calibrate "$S/configs/models/tiny" --sampler unipc --steps 5 --prompts prompts.txt \
    --out cal2.json >/dev/null 2>err.txt || { cat err.txt; fail "calibrate --prompts"; }
python3 -c 'import json,sys; d=json.load(open("cal2.json")); assert d["provenance"]["prompts"]==["a cat","a dog running on a beach at sunset"], d["provenance"]["prompts"]; assert d["setup"]["sampler"]=="unipc"' ||
    fail "prompts from file"
echo "ok: prompts from a file"

rc=0; "$W" calibrate "$S/configs/models/tiny" --steps 8 2>err.txt || rc=$?
[ "$rc" = 2 ] || fail "missing --out: exit $rc, want 2"
grep -q "usage: ditfarm-worker calibrate" err.txt || fail "no usage line"
rc=0; "$W" calibrate "$S/configs/models/tiny" --sampler heun --out x.json 2>err.txt || rc=$?
[ "$rc" = 2 ] || fail "bad sampler: exit $rc, want 2"
grep -q "heun" err.txt || { cat err.txt; fail "bad sampler not named"; }
rc=0; "$W" calibrate "$S/configs/models/tiny" --steps 8 --guidance 1 --out x.json 2>err.txt || rc=$?
[ "$rc" = 1 ] || fail "guidance 1: exit $rc, want 1"
grep -q "the CFG table needs both branches" err.txt || { cat err.txt; fail "guidance message"; }
echo "ok: bad command lines refused"

cat > m.yaml <<YAML
name: cp
defaults:
  model: tiny
  width: 64
  height: 64
  frames: 9
  steps: 8
  guidance_scale: 5.0
  flow_shift: 3.0
  output:
    path: out/{shot}.mp4
shots:
  - id: tea
    prompt: a red sun rising over a calm sea
    sampler: euler
    cache: {policy: teacache, mode: e, threshold: 1.0}
  - id: pt
    prompt: a red sun rising over a calm sea
    sampler: unipc
    cache: {policy: prompttea, threshold: 1.0}
  - id: pt60
    prompt: a red sun
    sampler: unipc
    steps: 60
    cache: prompttea
YAML
"$W" cache-plan m.yaml --shot tea >plan.txt 2>err.txt || { cat err.txt; fail "cache-plan tea"; }
grep -q "^shot tea: cache teacache, mode e, tau 1 (manifest threshold)$" plan.txt ||
    { cat plan.txt; fail "cache-plan header"; }
[ "$(grep -c '^  step ' plan.txt)" = 8 ] || fail "one line per step"
grep -q "^  step 1/8 t=1000.0: cond computed, uncond computed$" plan.txt || fail "step 1 forced"
grep -Eq "^passes computed [0-9]+/16; predicted denoise speed-up [0-9.]+x" plan.txt ||
    fail "summary line"
"$W" cache-plan m.yaml --shot pt --json >plan.json 2>err.txt || { cat err.txt; fail "--json"; }
python3 -c 'import json; d=json.load(open("plan.json")); assert d["policy"]=="prompttea" and len(d["cond"])==8 and d["cond"][0]=="C" and d["predicted_speedup"]>=1, d' ||
    fail "cache-plan JSON"
rc=0; "$W" cache-plan m.yaml --shot pt60 >/dev/null 2>err.txt || rc=$?
[ "$rc" = 1 ] || fail "60 steps without calibration: exit $rc, want 1"
grep -q "prompttea: no step-cache calibration for model 'tiny' (tried .*stepcache-unipc-60.json" err.txt ||
    { cat err.txt; fail "refusal message"; }
echo "ok: cache-plan (text, JSON, refusal)"
