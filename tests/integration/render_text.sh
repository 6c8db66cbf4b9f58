#!/usr/bin/env bash
# render_text.sh -- a text prompt on a model folder with tokenizer/ and
# text_encoder/ (the demo model as make-tiny writes it): rank 0 encodes, every
# rank gets the same rows, so 1 and 2 ranks (cfg 2 and ulysses 2) give the
# same latent; the rows are cached in the job's checkpoint directory and a
# second run reads them back instead of encoding; prompt_embeds files still
# win; the sidecar names the source; a folder without an encoder is refused
# by validate, except the demo model by name, which gets stand-in rows and
# says so.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
W="$B/worker/ditfarm-worker" D="$B/daemon/ditfarm"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
"$W" make-tiny "$S/configs/models/tiny" >/dev/null
[ -f "$S/configs/models/tiny/text_encoder/model.safetensors" ] || fail "make-tiny wrote no encoder"
mpi=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
export OMPI_MCA_rmaps_base_oversubscribe=1 DITFARM_COMM_TIMEOUT=120

cat > m.yaml <<YAML
defaults: {model: tiny, width: 64, height: 64, frames: 5, steps: 3, seed: 5, guidance_scale: 4.0}
shots:
  - {id: t, prompt: "a red  sun &amp; a calm sea", negative_prompt: "blurry, low quality"}
YAML
"$W" render m.yaml --shot t --no-video --ckpt-dir ck1 --latent-out one.st >log1 2>&1 \
    || { cat log1; fail "1 rank"; }
grep -q "prompts encoded with $S/configs/models/tiny/text_encoder" log1 || { cat log1; fail "not encoded"; }
[ -f ck1/t.text.safetensors ] || fail "no cache file in the checkpoint directory"
echo "ok: 1 rank encoded ($(grep -o 'encoded with .*' log1 | head -1))"

"$W" render m.yaml --shot t --no-video --ckpt-dir ck1 --latent-out again.st >log2 2>&1 \
    || { cat log2; fail "rerun"; }
grep -q "read from the job's cache" log2 || { cat log2; fail "the rerun encoded again"; }
"$W" latent-diff one.st again.st --tol 0 >/dev/null || fail "cached rows gave another latent"
echo "ok: a rerun reads the cached rows and renders the same latent"

for lay in 2x1x1 1x2x1; do
    "${mpi[@]}" -n 2 "$W" render m.yaml --shot t --no-video --ckpt-dir "ck$lay" \
        --latent-out "two$lay.st" --layout "$lay" >log3 2>&1 || { tail -20 log3; fail "2 ranks $lay"; }
    [ "$(grep -c 'prompts encoded with' log3)" -eq 1 ] || { cat log3; fail "$lay: not encoded once"; }
    d=$("$W" latent-diff one.st "two$lay.st" --tol 1e-5) || fail "2 ranks $lay: $d"
    echo "ok: 2 ranks ($lay) encode once on rank 0 and match 1 rank: $d"
done

# encode-prompt writes what the render encodes: its prompt_embeds as a
# prompt_embeds: file gives the text prompt's latent; the file wins over text.
"$W" encode-prompt "$S/configs/models/tiny" --prompt "a red  sun &amp; a calm sea" --max-len 16 \
    pe.safetensors >log4 2>&1 || { cat log4; fail "encode-prompt"; }
cat > e.yaml <<YAML
defaults: {model: tiny, width: 64, height: 64, frames: 5, steps: 2, seed: 5, guidance_scale: 1.0}
shots:
  - {id: text, prompt: "a red  sun &amp; a calm sea"}
  - {id: file, prompt: "something else entirely", prompt_embeds: $work/pe.safetensors}
YAML
"$W" render e.yaml --shot text --no-video --latent-out text.st >log4 2>&1 || { cat log4; fail "text"; }
"$W" render e.yaml --shot file --no-video --latent-out file.st >log4 2>&1 || { cat log4; fail "file"; }
grep -q "prompts encoded" log4 && fail "encoded although prompt_embeds was given"
d=$("$W" latent-diff text.st file.st --tol 1e-5) || fail "encode-prompt file vs text: $d"
echo "ok: encode-prompt's prompt_embeds as a file = the text prompt ($d); the file wins"

# The sidecar says where the rows came from.
cp m.yaml v.yaml
sed -i 's/steps: 3/steps: 2/' v.yaml
"$D" render v.yaml >log5 2>&1 || { cat log5; fail "video render"; }
side=$(find . -name 't.mp4.json' | head -1)
grep -Eq '"text_source":[[:space:]]*"text encoder' "$side" || { cat "$side"; fail "sidecar text_source"; }
echo "ok: sidecar $(grep -Eo '"text_source":[[:space:]]*"[^"]*"' "$side" | tr -s '[:space:]' ' ')"

# No encoder: refused by validate for a folder, stand-in rows for the demo by name.
mkdir -p bare
cp -r "$S/configs/models/tiny/transformer" "$S/configs/models/tiny/vae" bare/
sed "s|model: tiny|model: $work/bare|" m.yaml > b.yaml
if "$D" validate b.yaml >log6 2>&1; then fail "a prompt on a folder without encoder validated"; fi
grep -q "has no text encoder (tokenizer/ and text_encoder/)" log6 || { cat log6; fail "message"; }
echo "ok: validate refuses: $(grep -o 'model folder .*' log6 | head -1 | cut -c1-120)"

# The demo model by name without an encoder: stand-in rows, logged and in the sidecar.
mkdir -p cfg/models/tiny
cp "$S/configs/models/tiny.yaml" cfg/models/
cp -r "$S/configs/models/tiny/transformer" "$S/configs/models/tiny/vae" cfg/models/tiny/
"$W" render v.yaml --shot t --configs cfg --output standin.mp4 >log7 2>&1 || { cat log7; fail "stand-in"; }
grep -q "stand-in prompt embeddings derived from the text" log7 || { cat log7; fail "stand-in not logged"; }
grep -Eq '"text_source":[[:space:]]*"stand-in' standin.mp4.json || fail "stand-in sidecar"
echo "ok: the demo model without an encoder gets stand-in rows, logged and in the sidecar"
