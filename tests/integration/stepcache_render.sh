#!/usr/bin/env bash
# Step caching in the render loop: cached shots (TeaCache, PromptTea) skip
# the passes their mask says, make the same decisions and reach the same
# latent on P ranks as on one, and resume mid-shot -- on the same or another
# rank count -- to the uninterrupted result.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
W="$B/worker/ditfarm-worker"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
"$W" make-tiny "$S/configs/models/tiny" >/dev/null
mpi=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)

cat > m.yaml <<YAML
defaults: {model: tiny, width: 80, height: 64, frames: 9, steps: 8, seed: 4, guidance_scale: 5.0,
           flow_shift: 3.0}
shots:
  - {id: tea, prompt: a lighthouse at night, sampler: euler,
     cache: {policy: teacache, threshold: 1.5}}
  - {id: ptea, prompt: a lighthouse at night, sampler: unipc,
     cache: {policy: prompttea, threshold: 1.0}}
YAML
for shot in tea ptea; do
    "$W" render m.yaml --shot $shot --no-video --latent-out ref-$shot.st 2>log
    grep -q "skipped" log || { cat log; fail "$shot: no pass skipped"; }
    want=$(grep -o "(cond [^)]*)" log | tr '\n' ' ')
    for p in 2 3 4; do
        "${mpi[@]}" -n $p "$W" render m.yaml --shot $shot --no-video --latent-out p$p-$shot.st 2>log ||
            { tail log; fail "$shot P=$p"; }
        got=$(grep -o "(cond [^)]*)" log | tr '\n' ' ')
        [ "$got" = "$want" ] || fail "$shot P=$p: decisions differ: $got vs $want"
        "$W" latent-diff ref-$shot.st p$p-$shot.st >/dev/null || fail "$shot P=$p latent differs"
    done
    # stop on 2 ranks after step 5, resume on 1: same decisions, same latent
    rm -rf ck
    "${mpi[@]}" -n 2 "$W" render m.yaml --shot $shot --no-video --ckpt-dir ck --stop-after 5 \
        2>/dev/null >/dev/null && fail "$shot: --stop-after did not stop"
    "$W" render m.yaml --shot $shot --no-video --ckpt-dir ck --latent-out res-$shot.st 2>log
    grep -q "resumed from .* at step 5/8 (written on 2 ranks)" log || { cat log; fail "$shot: no resume"; }
    "$W" latent-diff ref-$shot.st res-$shot.st >/dev/null || fail "$shot: resumed latent differs"
    # same rank count: bit-identical
    rm -rf ck
    "$W" render m.yaml --shot $shot --no-video --ckpt-dir ck --stop-after 6 2>/dev/null || true
    "$W" render m.yaml --shot $shot --no-video --ckpt-dir ck --latent-out res1-$shot.st 2>/dev/null
    cmp -s ref-$shot.st res1-$shot.st || fail "$shot: 1-rank resume not bit-identical"
    echo "ok: $shot: decisions '$want'; P=2,3,4 match; resume 2->1 ranks and 1->1 match"
done

# `ditfarm plan` predicts from the same mask; a CFG-cache shot keeps cfg 1.
cat > p.yaml <<YAML
defaults: {model: tiny, width: 80, height: 64, frames: 9, steps: 8, seed: 4, guidance_scale: 5.0,
           flow_shift: 3.0, sampler: unipc}
shots:
  - {id: plain, prompt: a boat, cache: {policy: teacache, threshold: 1.5}}
  - {id: cfgc, prompt: a boat, cache: {policy: prompttea, threshold: 1.0, cfg_threshold: 0.5}}
YAML
"$B/daemon/ditfarm" plan p.yaml --cpu-ranks 2 >plan.txt 2>&1 || { cat plan.txt; fail "plan"; }
grep -q "cache    teacache: .* passes compute the blocks; predicted .*x faster" plan.txt || { cat plan.txt; fail "no cache prediction"; }
awk '/^shot cfgc/{f=1} f && /chosen/{print; exit}' plan.txt | grep -q "cfg 1 x" || { cat plan.txt; fail "CFG-cache shot split its branches"; }
echo "ok: ditfarm plan predicts the cache speed-up; CFG-cache shot planned with cfg 1"
