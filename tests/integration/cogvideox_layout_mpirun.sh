#!/usr/bin/env bash
# CogVideoX at its real token count: 720x480, 49 frames = 13x30x45 latent
# patches + 226 text tokens in one joint sequence (17,776 tokens), one DPM
# step of a tiny 5B-shaped model (the sample_dpm fixture with
# max_text_seq_length 226 and the 60x90 trained grid of CogVideoX-5B), on 3,
# 5, 6, 7 and 8 ranks with the planner's layout (3 heads: ulysses 3 or
# rings): the latent equals the 1-rank latent within 1e-5.  The joint
# sequence is split evenly, so rank 0 holds the 226 text rows and the first
# video tokens (docs/cogvideox.md).  --no-video: the VAE config only gives
# the strides (8, 4) to the geometry.
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
export OMPI_MCA_rmaps_base_oversubscribe=1 DITFARM_COMM_TIMEOUT=300

mkdir -p m
cp -r "$D/sample_dpm/transformer" "$D/sample_dpm/scheduler" "$D/vae_b/vae" m/
sed -i 's/"max_text_seq_length": 7/"max_text_seq_length": 226/; s/"sample_height": 8/"sample_height": 60/;
        s/"sample_width": 16/"sample_width": 90/' m/transformer/config.json
sed -i 's/"latent_channels": 6/"latent_channels": 4/' m/vae/config.json
cat > m.yaml <<YAML
defaults: {model: $work/m, width: 720, height: 480, frames: 49, steps: 1, seed: 3, guidance_scale: 1.0, sampler: cogvideox_dpm}
shots:
  - {id: b, prompt: x, prompt_embeds: $D/sample_dpm/prompt_embeds.safetensors}
YAML
"$W" render m.yaml --shot b --no-video --latent-out ref.st 2>log || { cat log; fail "1 rank"; }
grep -q "latent 13x60x90 (17776 tokens)" log || { cat log; fail "not 17,776 tokens"; }
for p in 3 5 6 7 8; do
    "${mpi[@]}" -n $p "$W" render m.yaml --shot b --no-video --latent-out o$p.st >log 2>&1 \
        || { tail -20 log; fail "P=$p failed"; }
    d=$("$W" latent-diff ref.st o$p.st --tol 1e-5) || fail "P=$p: $d"
    echo "ok: 13x30x45 + 226 text tokens on $p ranks ($(grep -o 'layout cfg[^,]*' log | head -1)): $d"
done
