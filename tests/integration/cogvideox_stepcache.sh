#!/usr/bin/env bash
# TeaCache on CogVideoX shots (docs/stepcache.md): a 5B-shaped (RoPE, DPM)
# and a 2B-shaped (sin-cos, DDIM) fixture model render with
# `cache: {policy: teacache, threshold: ...}`, skip the steps the planned mask
# says (log, sidecar hit counts), differ from the uncached latent, make the
# same decisions and reach the same latent on 2 ranks (ring attention over the joint
# [text; video] sequence, and cfg), and resume from a checkpoint -- 1 rank
# bit-identically, 2 ranks -> 1 within 1e-5; `cache-plan` predicts the same
# decisions.  PromptTea is refused clearly.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
W="$B/worker/ditfarm-worker"
D="$S/tests/data/cogvideox"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
mpi=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
export OMPI_MCA_rmaps_base_oversubscribe=1 DITFARM_COMM_TIMEOUT=120
for m in dpm ddim; do
    mkdir -p $m
    cp -r "$D/sample_$m/transformer" "$D/sample_$m/scheduler" $m/
    cp -r "$D/vae_a/vae" $m/
done
E() { echo "prompt_embeds: $D/sample_$1/prompt_embeds.safetensors, negative_prompt_embeds: $D/sample_$1/negative_prompt_embeds.safetensors"; }
cat > m.yaml <<YAML
defaults: {width: 32, height: 24, frames: 9, fps: 8, steps: 8, seed: 5, guidance_scale: 6.0}
shots:
  - {id: dpm, model: $work/dpm, prompt: a lighthouse, sampler: cogvideox_dpm, $(E dpm),
     cache: {policy: teacache, threshold: 0.3}, output: {path: "out/{shot}.mp4"}}
  - {id: ddim, model: $work/ddim, prompt: a lighthouse, sampler: cogvideox_ddim, $(E ddim),
     cache: {policy: teacache, threshold: 0.3}}
  - {id: plain, model: $work/dpm, prompt: a lighthouse, sampler: cogvideox_dpm, $(E dpm)}
  - {id: ptea, model: $work/dpm, prompt: a lighthouse, sampler: cogvideox_dpm, $(E dpm),
     cache: {policy: prompttea, threshold: 0.3}}
YAML

# The video and its sidecar: hit counts per branch and the planned mask.
"$W" render m.yaml --shot dpm 2>log || { cat log; fail "dpm: render failed"; }
grep -q "step cache teacache (tau 0.3000, manifest threshold): 4 of 16 passes compute the blocks" log ||
    { cat log; fail "dpm: no cache summary"; }
python3 - out/dpm.mp4.json <<'PY' || fail "sidecar"
import json, sys
d = json.load(open(sys.argv[1]))
c = {e["branch"]: e for e in d["cache"]}
assert c["cond"]["skipped"] == 6 and c["cond"]["computed"] == 2, c
assert c["uncond"]["skipped"] == 6, c
p = d["cache_plan"]
assert p["mode"] == "e" and p["cond"] == "C......C" and p["passes_computed"] == 4, p
PY
echo "ok: dpm: video rendered, 12 of 16 passes skipped (log and sidecar)"

"$W" render m.yaml --shot plain --no-video --latent-out plain.st 2>/dev/null
for shot in dpm ddim; do
    "$W" render m.yaml --shot $shot --no-video --latent-out ref-$shot.st 2>log
    grep -q "cond skipped, uncond skipped" log || { cat log; fail "$shot: no step skipped"; }
    want=$(grep -o "(cond [^)]*)" log | tr '\n' ' ')
    # cache-plan (and so `ditfarm plan`) predicts exactly these decisions
    "$W" cache-plan m.yaml --shot $shot >plan.txt 2>&1 || { cat plan.txt; fail "$shot: cache-plan"; }
    planned=$(grep -o "t=[0-9.]*: cond [^,]*, uncond [a-z]*" plan.txt | sed 's/t=[0-9.]*: /(/; s/$/)/' | tr '\n' ' ')
    [ "$planned" = "$want" ] || fail "$shot: cache-plan says $planned, the render did $want"
    grep -q "passes computed 4/16; predicted denoise speed-up" plan.txt || { cat plan.txt; fail "$shot: plan"; }
    for lay in 1x1x2 2x1x1; do
        "${mpi[@]}" -n 2 "$W" render m.yaml --shot $shot --no-video --layout $lay \
            --latent-out p-$shot.st >log 2>&1 || { tail -20 log; fail "$shot $lay"; }
        got=$(grep -o "(cond [^)]*)" log | tr '\n' ' ')
        [ "$got" = "$want" ] || fail "$shot $lay: decisions differ: $got vs $want"
        d=$("$W" latent-diff ref-$shot.st p-$shot.st --tol 1e-5) || fail "$shot $lay: $d"
        echo "ok: $shot: 2 ranks ($lay) make the same decisions, latent $d"
    done
    rm -rf ck
    set +e
    "$W" render m.yaml --shot $shot --no-video --ckpt-dir ck --stop-after 3 2>/dev/null; rc=$?
    set -e
    [ $rc -eq 3 ] || fail "$shot: stop exit code $rc, want 3"
    "$W" render m.yaml --shot $shot --no-video --ckpt-dir ck --latent-out res-$shot.st 2>log
    grep -q "resumed from .* at step 3/8" log || { cat log; fail "$shot: no resume"; }
    cmp -s ref-$shot.st res-$shot.st || fail "$shot: 1-rank resume not bit-identical"
    rm -rf ck
    set +e
    "${mpi[@]}" -n 2 "$W" render m.yaml --shot $shot --no-video --ckpt-dir ck --stop-after 4 \
        --layout 1x1x2 >/dev/null 2>&1; rc=$?
    set -e
    [ $rc -eq 3 ] || fail "$shot: 2-rank stop exit code $rc"
    "$W" render m.yaml --shot $shot --no-video --ckpt-dir ck --latent-out res2-$shot.st 2>log
    grep -q "at step 4/8 (written on 2 ranks)" log || { cat log; fail "$shot: no resume from 2 ranks"; }
    d=$("$W" latent-diff ref-$shot.st res2-$shot.st --tol 1e-5) || fail "$shot: 2 -> 1 resume: $d"
    echo "ok: $shot: decisions '$want'; resumed at step 3 bit-identical, 2 -> 1 ranks $d"
done
if "$W" latent-diff plain.st ref-dpm.st --tol 1e-6 >/dev/null; then fail "the cache changed nothing"; fi

if "$W" render m.yaml --shot ptea --no-video >log 2>&1; then fail "prompttea accepted"; fi
grep -q "does not have; use cache policy teacache" log || { cat log; fail "prompttea: message"; }
echo "ok: prompttea refused: $(grep -o 'prompttea: its step model.*' log | head -1)"
