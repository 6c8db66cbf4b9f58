#!/usr/bin/env bash
# cogvideox_text.sh -- a CogVideoX shot with a text prompt on the folder
# `make-tiny --family cogvideox` writes (tokenizer/ + a T5 v1.1
# text_encoder/): the render encodes the prompt and the default negative ""
# as CogVideoXPipeline._get_t5_prompt_embeds does (226 rows, no mask, padding
# rows kept) on rank 0 and broadcasts them, so 1 and 2 ranks (cfg 2 and
# ulysses 2) give the same latent; the video has the right size and frame
# count; `encode-prompt --style cogvideox` files given as prompt_embeds: give
# the same latent byte for byte; a second run reads the rows from the job's
# cache; the folder without its encoder, or with one of another width, is
# refused by validate.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
W="$B/worker/ditfarm-worker" D="$B/daemon/ditfarm"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
mpi=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
export OMPI_MCA_rmaps_base_oversubscribe=1 DITFARM_COMM_TIMEOUT=120

"$W" make-tiny --family cogvideox m >/dev/null || fail "make-tiny --family cogvideox"
for f in model_index.json transformer/config.json vae/config.json scheduler/scheduler_config.json \
    tokenizer/tokenizer.json text_encoder/config.json text_encoder/model.safetensors; do
    [ -f "m/$f" ] || fail "make-tiny wrote no m/$f"
done
grep -q '"model_type": "t5"' m/text_encoder/config.json || fail "the encoder is not T5 v1.1"
"$W" make-tiny --family cogvideox m2 >/dev/null
cmp -s m/transformer/diffusion_pytorch_model.safetensors m2/transformer/diffusion_pytorch_model.safetensors \
    || fail "make-tiny is not deterministic"

P="a lighthouse at night, waves crashing"
cat > m.yaml <<YAML
defaults: {model: $work/m, width: 32, height: 24, frames: 9, fps: 8, steps: 3, seed: 5, guidance_scale: 6.0}
shots:
  - {id: t, prompt: "$P", output: {path: "out/{shot}.mp4"}}
YAML
"$D" validate m.yaml >/dev/null 2>&1 || { "$D" validate m.yaml; fail "validate"; }
"$W" render m.yaml --shot t --ckpt-dir ck1 --latent-out one.st >log1 2>&1 || { cat log1; fail "1 rank"; }
grep -q "prompts encoded with $work/m/text_encoder (226 rows + negative)" log1 \
    || { cat log1; fail "not encoded with 226 rows"; }
grep -q "running cogvideox_dpm" log1 || { cat log1; fail "not the folder's DPM scheduler"; }
n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height \
    -of csv=p=0 out/t.mp4)
[ "$n" = "32,24,9" ] || fail "ffprobe says $n, want 32,24,9"
echo "ok: text prompt encoded (226 rows + the negative \"\"), out/t.mp4 32x24, 9 frames"

"$W" render m.yaml --shot t --no-video --ckpt-dir ck1 --latent-out again.st >log2 2>&1 \
    || { cat log2; fail "second run"; }
grep -q "prompts read from the job's cache" log2 || { cat log2; fail "cache not used"; }
cmp -s one.st again.st || fail "the cached rows gave another latent"
echo "ok: a second run reads the rows from the job's cache, same latent"

for lay in 2x1x1 1x2x1; do
    "${mpi[@]}" -n 2 "$W" render m.yaml --shot t --no-video --layout $lay --latent-out two.st \
        >log 2>&1 || { tail -20 log; fail "2 ranks $lay"; }
    [ "$(grep -c 'prompts encoded' log)" = 1 ] || { cat log; fail "$lay: not encoded once"; }
    d=$("$W" latent-diff one.st two.st --tol 1e-5) || fail "2 ranks $lay: $d"
    echo "ok: 2 ranks, layout $lay: rank 0 encoded, $d"
done

"$W" encode-prompt m --prompt "$P" p.st --style cogvideox --max-len 226 >/dev/null 2>&1 \
    || fail "encode-prompt"
"$W" encode-prompt m --prompt "" n.st --style cogvideox --max-len 226 >/dev/null 2>&1 \
    || fail "encode-prompt (negative)"
cat > e.yaml <<YAML
defaults: {model: $work/m, width: 32, height: 24, frames: 9, fps: 8, steps: 3, seed: 5, guidance_scale: 6.0}
shots:
  - {id: t, prompt: "$P", prompt_embeds: p.st, negative_prompt_embeds: n.st}
YAML
"$W" render e.yaml --shot t --no-video --latent-out files.st >log 2>&1 || { cat log; fail "files"; }
grep -q "prompts encoded" log && fail "encoded although prompt_embeds files were given"
cmp -s one.st files.st || fail "encode-prompt files give another latent than the text prompt"
echo "ok: encode-prompt --style cogvideox files as prompt_embeds: the same latent, byte for byte"

mkdir nt && cp -r m/transformer m/vae m/scheduler nt/
sed "s#$work/m#$work/nt#" m.yaml > nt.yaml
set +e
"$D" validate nt.yaml >log 2>&1; rc=$?
set -e
[ $rc -ne 0 ] || fail "a text prompt on a folder without an encoder passed validate"
grep -q "has no text encoder (tokenizer/ and text_encoder/)" log || { cat log; fail "message"; }
echo "ok: the folder without tokenizer/ and text_encoder/ is refused by validate"

# An encoder that does not fit the transformer (the demo model's umT5 of
# width 64, from make-tiny, in place of the T5 of width 32) is refused with
# both numbers.
"$W" make-tiny --family cogvideox --seed 3 bad >/dev/null
mkdir -p wan/transformer && cp "$S/configs/models/tiny/transformer/config.json" wan/transformer/
"$W" make-tiny wan >/dev/null || fail "make-tiny (wan)"
rm -rf bad/text_encoder && cp -r wan/text_encoder bad/
sed "s#$work/m#$work/bad#" m.yaml > bad.yaml
set +e
"$D" validate bad.yaml >log 2>&1; rc=$?
set -e
[ $rc -ne 0 ] || fail "a 64-wide encoder on a 32-wide transformer passed validate"
grep -q "d_model 64 != transformer text_dim 32" log || { cat log; fail "fit message"; }
echo "ok: an encoder of the wrong width is refused (d_model 64 != text_dim 32)"
