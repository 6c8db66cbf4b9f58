#!/usr/bin/env bash
# Sequence parallelism under mpirun: for every layout the planner can emit
# with P = 2, 3, 4, 6, 8 CPU ranks (forced with --layout, ulysses and ring,
# padded sequences, cfg = 2) and for the planner's own choice, the final
# latent equals the single-rank latent within 1e-5 relative L2.
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
export OMPI_MCA_rmaps_base_oversubscribe=1 DITFARM_COMM_TIMEOUT=120

# 60 tokens (3 x 4 x 5): not a multiple of 8, so P = 8 pads; 4 heads: ulysses 1, 2, 4.
cat > m.yaml <<YAML
defaults: {model: tiny, frames: 9, steps: 4, seed: 11, guidance_scale: 3.5, sampler: unipc}
shots:
  - {id: s60, prompt: a paper boat on a river, width: 80, height: 64}
  - {id: s48, prompt: a paper boat on a river, width: 64, height: 64, guidance_scale: 1.0}
YAML
"$W" render m.yaml --shot s60 --no-video --latent-out ref60.st 2>/dev/null
"$W" render m.yaml --shot s48 --no-video --latent-out ref48.st 2>/dev/null

check() { # check SHOT P LAYOUT(or "plan") [EXTRA WORKER ARGS...]
    local shot=$1 p=$2 lay=$3 ref=ref${1#s}.st out=$1-$2-$3.st
    shift 3
    local extra=("$@")
    [ "$lay" != plan ] && extra+=(--layout "$lay")
    "${mpi[@]}" -n "$p" "$W" render m.yaml --shot "$shot" --no-video --latent-out "$out" \
        "${extra[@]}" >log 2>&1 || { tail -20 log; fail "$shot P=$p $lay: render failed"; }
    local d
    d=$("$W" latent-diff "$ref" "$out" --tol 1e-5) || fail "$shot P=$p $lay: $d"
    echo "ok: $shot P=$p layout $lay ${extra[*]}: $d ($(grep -o 'layout cfg[^,]*' log | head -1))"
}
for l in 2x1x1 1x2x1 1x1x2; do check s60 2 $l; done
for l in 1x1x3; do check s60 3 $l; done
for l in 2x2x1 2x1x2 1x4x1 1x2x2 1x1x4; do check s60 4 $l; done
for l in 2x1x3 1x2x3; do check s60 6 $l; done
for l in 2x4x1 2x2x2 1x4x2 1x2x4 1x1x8; do check s60 8 $l; done
for p in 2 3 4 6 8; do check s60 $p plan; done
# no guidance: one branch, so no cfg parallelism; the planner picks u/r
for p in 2 4; do check s48 $p plan; done
# the host staging a GPU rank does around every transfer (usp_attn.h)
for l in 1x2x2 2x2x1; do check s60 4 $l --usp-stage; done
