#!/usr/bin/env bash
# A CogVideoX shot through the worker: a tiny model folder assembled from the
# fixtures (the 5B-shaped transformer and CogVideoXDPMScheduler of
# sample_dpm, the 3-level VAE of vae_a) renders to a video with the right
# frame count (DPM and DDIM); stopped and resumed it ends bit-identical; on
# 3 ranks (text tokens on rank 0 with the first video tokens, ulysses or
# ring) and resumed across rank counts it equals 1 rank within 1e-5; the VAE
# tiles spread over 2 ranks give the 1-rank video byte for byte; a
# missing VAE, a flow sampler and a frame count the model cannot take are
# refused with messages naming them.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
W="$B/worker/ditfarm-worker"
D="$S/tests/data/cogvideox"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
mkdir -p m
cp -r "$D/sample_dpm/transformer" "$D/sample_dpm/scheduler" m/
cp -r "$D/vae_a/vae" m/
mpi=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
export OMPI_MCA_rmaps_base_oversubscribe=1 DITFARM_COMM_TIMEOUT=120

E="prompt_embeds: $D/sample_dpm/prompt_embeds.safetensors, negative_prompt_embeds: $D/sample_dpm/negative_prompt_embeds.safetensors"
cat > m.yaml <<YAML
defaults: {model: $work/m, width: 32, height: 24, frames: 9, fps: 8, steps: 5, seed: 5, guidance_scale: 6.0}
shots:
  - {id: dpm, prompt: a lighthouse at night, sampler: cogvideox_dpm, $E, output: {path: "out/{shot}.mp4"}}
  - {id: ddim, prompt: a lighthouse at night, sampler: cogvideox_ddim, steps: 4, $E, output: {path: "out/{shot}.mp4"}}
  - {id: flow, prompt: a lighthouse at night, sampler: unipc, $E}
YAML
sed 's/frames: 9/frames: 10/' m.yaml > odd.yaml
sed 's/frames: 9/frames: 13/' m.yaml > thirteen.yaml # 4 latents: the VAE would give 16
sed 's/frames: 9/frames: 17/' m.yaml > seventeen.yaml
sed 's/height: 24/height: 32/' m.yaml > novae.yaml # legal with and without the VAE's strides

for shot in dpm ddim; do
    "$W" render m.yaml --shot $shot 2>log || { cat log; fail "$shot: render failed"; }
    n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height \
        -of csv=p=0 out/$shot.mp4)
    [ "$n" = "32,24,9" ] || fail "$shot: ffprobe says $n, want 32,24,9"
    echo "ok: $shot: out/$shot.mp4 32x24, 9 frames ($(grep -o 'step 5/5\|step 4/4' log | tail -1))"
done
# The video has the frame count asked for (17 = 5 latents; an even latent
# count would decode to 4L frames, so 13 is refused below).
"$W" render seventeen.yaml --shot ddim 2>log || { cat log; fail "17 frames: render failed"; }
n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 out/ddim.mp4)
[ "$n" = "17" ] || fail "17 frames asked, ffprobe counts $n"
echo "ok: 17 frames asked, 17 in the video"

"$W" render m.yaml --shot dpm --no-video --latent-out ref.st 2>/dev/null
set +e
"$W" render m.yaml --shot dpm --no-video --ckpt-dir ck --stop-after 2 2>log1; rc=$?
set -e
[ $rc -eq 3 ] || { cat log1; fail "stop exit code $rc, want 3"; }
"$W" render m.yaml --shot dpm --no-video --ckpt-dir ck --latent-out res.st 2>log2
grep -q "resumed from ck/ckpt-dpm-000002.dfck at step 2/5" log2 || { cat log2; fail "no resume"; }
cmp -s ref.st res.st || fail "resumed latent differs from the uninterrupted one"
echo "ok: stopped at step 2 (exit 3), resumed: bit-identical (the DPM draws and old x0 restored)"

for lay in 1x3x1 1x1x3 2x1x1; do
    p=$(( ${lay%%x*} * $(echo $lay | cut -dx -f2) * ${lay##*x} ))
    "${mpi[@]}" -n $p "$W" render m.yaml --shot dpm --no-video --latent-out o.st --layout $lay \
        >log 2>&1 || { tail -20 log; fail "P=$p $lay failed"; }
    d=$("$W" latent-diff ref.st o.st --tol 1e-5) || fail "P=$p $lay: $d"
    echo "ok: $p ranks, layout $lay: $d"
done
# The VAE decode over ranks: diffusers' tiles (4 here) spread over 2 ranks;
# a 2x1x1 (cfg) layout leaves the latent bit-identical, so the video is too.
cp out/dpm.mp4 one-rank.mp4
"${mpi[@]}" -n 2 "$W" render m.yaml --shot dpm --layout 2x1x1 >log 2>&1 || { tail -20 log; fail "2-rank video"; }
grep -q "CogVideoX VAE: 4 tiles over 2 ranks" log || { cat log; fail "decode not spread"; }
cmp -s one-rank.mp4 out/dpm.mp4 || fail "the 2-rank video differs from the 1-rank one"
echo "ok: VAE tiles decoded over 2 ranks: the same video as 1 rank"
rm -rf ck
set +e
"${mpi[@]}" -n 3 "$W" render m.yaml --shot dpm --no-video --ckpt-dir ck --stop-after 3 --layout 1x1x3 \
    >log 2>&1; rc=$?
set -e
[ $rc -eq 3 ] || { tail -20 log; fail "3-rank stop exit code $rc"; }
"$W" render m.yaml --shot dpm --no-video --ckpt-dir ck --latent-out res3.st 2>log2
grep -q "at step 3/5 (written on 3 ranks)" log2 || { cat log2; fail "no resume from 3 ranks"; }
d=$("$W" latent-diff ref.st res3.st --tol 1e-5) || fail "3 -> 1 rank resume: $d"
echo "ok: checkpoint on 3 ranks resumed on 1: $d"

# dynamic_cfg (CogVideoXPipeline's use_dynamic_cfg) guides every step by its
# timestep: another latent, and another shot for the checkpoints.
sed 's/guidance_scale: 6.0}/guidance_scale: 6.0, dynamic_cfg: true}/' m.yaml > dyn.yaml
"$W" render dyn.yaml --shot dpm --no-video --latent-out dyn.st 2>/dev/null
if "$W" latent-diff ref.st dyn.st --tol 1e-3 >/dev/null; then fail "dynamic_cfg changed nothing"; fi
rm -rf ck
set +e
"$W" render m.yaml --shot dpm --no-video --ckpt-dir ck --stop-after 2 2>/dev/null
set -e
"$W" render dyn.yaml --shot dpm --no-video --ckpt-dir ck --latent-out dyn2.st 2>log
grep -q "written for another manifest shot" log || { cat log; fail "dynamic_cfg resumed a plain checkpoint"; }
cmp -s dyn.st dyn2.st || fail "dynamic_cfg run not reproducible"
echo "ok: dynamic_cfg: another latent; a checkpoint without it is not resumed"

expect_fail() { # what, pattern, worker args...
    local what=$1 pat=$2; shift 2
    if "$W" "$@" >log 2>&1; then fail "$what accepted"; fi
    grep -q -- "$pat" log || { cat log; fail "$what: message"; }
    echo "ok: $what refused: $(grep -o -- "$pat.*" log | head -1)"
}
expect_fail "flow sampler" "sampler unipc is a flow-matching sampler" render m.yaml --shot flow --no-video
expect_fail "frame count" "frames 10 is not of the form 8k+1" render odd.yaml --shot dpm --no-video
expect_fail "13 frames (16 after the VAE)" "frames 13 is not of the form 8k+1 (model 'm': its VAE decodes 4 latent frames to 16 frames); nearest: 9 or 17" \
    render thirteen.yaml --shot dpm --no-video
mv m/vae m/vae.off
expect_fail "missing VAE" "m/vae/config.json" render novae.yaml --shot dpm
mv m/vae.off m/vae
