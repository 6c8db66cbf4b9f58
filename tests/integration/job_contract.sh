#!/usr/bin/env bash
# The controller resolves each shot into job.json and the worker runs exactly
# that: `ditfarm sbatch` writes it (a drawn seed is kept across a second
# sbatch, and manifest.json agrees), a worker whose world differs from the plan logs the replan and
# records it in the sidecar, progress.json tracks the render, a guidance of
# 1.00000005 plans and runs unguided, and a `seed: random` shot renders on two
# ranks both through `ditfarm render` and through the worker's manifest path.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
W="$B/worker/ditfarm-worker" D="$B/daemon/ditfarm"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
mpi=(mpirun --oversubscribe)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
jq_() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

"$W" make-tiny "$S/configs/models/tiny" >/dev/null
cat >m.yaml <<YAML
name: jc
defaults: {model: tiny, width: 64, height: 64, frames: 9, steps: 3,
           output: {path: "$work/out/{shot}-{seed}.mp4"}}
shots:
  - {id: g, prompt: a lighthouse, guidance_scale: 4.0, seed: 5}
  - {id: edge, prompt: a kite, guidance_scale: 1.00000005, seed: 6}
  - {id: rnd, prompt: a fox, guidance_scale: 3.0, seed: random}
YAML

# 1. sbatch writes job.json; a second sbatch keeps the drawn seed
"$D" sbatch m.yaml --cpu-ranks 2 --jobs-dir jobs >/dev/null || fail "sbatch"
J=jobs/jc
[ "$(jq_ $J/g/job.json 'd["ditfarm_job"]')" = 1 ] || fail "no job.json version"
[ "$(jq_ $J/g/job.json 'd["layout"]["world"], d["guided"]')" = "(2, True)" ] || fail "g: plan"
[ "$(jq_ $J/edge/job.json 'd["guided"], d["layout"]["cfg"]')" = "(False, 1)" ] ||
    fail "edge: 1.00000005 must plan unguided"
seed1=$(jq_ $J/rnd/job.json 'd["seed"]')
"$D" sbatch m.yaml --cpu-ranks 2 --jobs-dir jobs >/dev/null || fail "second sbatch"
seed2=$(jq_ $J/rnd/job.json 'd["seed"]')
[ "$seed1" = "$seed2" ] || fail "second sbatch drew another seed ($seed1 vs $seed2)"
# job.json is the authority: manifest.json, rewritten by the second sbatch,
# carries the kept seed too
mseed=$(jq_ $J/manifest.json '[x["seed"] for x in d["shots"] if x["id"] == "rnd"][0]')
[ "$mseed" = "$seed1" ] || fail "manifest.json shows seed $mseed, job.json $seed1"
grep -q 'render --job "$job_dir/job.json"' $J/g/job.sbatch || fail "script does not pass job.json"
grep -q '^EXIT_DONE=0 EXIT_CHECKPOINTED=3 EXIT_RETRY=4$' $J/g/job.sbatch || fail "exit codes"
echo "ok: job.json written, drawn seed $seed1 kept, exit codes templated"

# 2. planned for 2 ranks, run on 1: the replan is logged and in the sidecar
"$W" render --job $J/g/job.json --ckpt-dir $J/g/ckpt >log1.txt 2>&1 || { cat log1.txt; fail "render g"; }
grep -q "replanned: job.json planned cfg 2 x ulysses 1 x ring 1 = 2 ranks" log1.txt ||
    { cat log1.txt; fail "no replan message"; }
side=out/g-5.mp4.json
[ "$(jq_ $side 'd["layout"]["replanned"], d["layout"]["world"], d["layout"]["planned"]["world"]')" = \
  "(True, 1, 2)" ] || fail "sidecar layout: $(jq_ $side 'd["layout"]')"
[ "$(jq_ $J/g/progress.json 'd["state"], d["step"], d["steps"]')" = "('done', 3, 3)" ] ||
    fail "progress.json: $(cat $J/g/progress.json)"
echo "ok: 1 rank for a 2-rank plan: replan logged and recorded; progress.json done 3/3"

# 3. the same plan on 2 ranks: no replan
"${mpi[@]}" -n 2 "$W" render --job $J/edge/job.json >log2.txt 2>&1 || { cat log2.txt; fail "render edge"; }
! grep -q replanned log2.txt || fail "replanned although the world matches"
[ "$(jq_ out/edge-6.mp4.json 'd["layout"]["cfg"], d["layout"]["replanned"]')" = "(1, False)" ] ||
    fail "edge ran guided"
echo "ok: guidance 1.00000005 planned and ran unguided on 2 ranks"

# 4. seed: random on two ranks, through the controller and through the worker alone
"$D" render m.yaml --shot rnd --ranks 2 >paths.txt 2>log3.txt || { cat log3.txt; fail "render rnd"; }
[ -s "$(cut -d' ' -f2 paths.txt)" ] || fail "no output for rnd"
"${mpi[@]}" -n 2 "$W" render m.yaml --shot rnd --configs "$S/configs" --no-video >log4.txt 2>&1 ||
    { cat log4.txt; fail "worker manifest path, seed random, 2 ranks"; }
echo "ok: seed: random renders on 2 ranks (ditfarm render and the worker's manifest path)"

# 5. every part is loaded at set-up: a broken vae/ fails before step 1
cp -r "$S/configs/models/tiny" badvae
# (a bad vae/config.json is refused even earlier, when the manifest loads)
head -c 100 "$S/configs/models/tiny/vae/diffusion_pytorch_model.safetensors" \
    >badvae/vae/diffusion_pytorch_model.safetensors
sed "s#model: tiny#model: $work/badvae#" m.yaml >bad.yaml
if "$W" render bad.yaml --shot g --configs "$S/configs" --no-video >log5.txt 2>&1; then
    : # --no-video needs no VAE
else
    cat log5.txt; fail "--no-video should not need the VAE"
fi
if "$W" render bad.yaml --shot g --configs "$S/configs" >log6.txt 2>&1; then
    fail "a broken vae/ rendered"
fi
grep -q "badvae/vae" log6.txt || { cat log6.txt; fail "the error does not name the VAE"; }
! grep -q "step 1/" log6.txt || { cat log6.txt; fail "the broken VAE was found after step 1"; }
echo "ok: a broken vae/ fails at set-up, before step 1"
