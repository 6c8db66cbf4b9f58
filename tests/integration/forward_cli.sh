#!/usr/bin/env bash
# forward_cli.sh -- `ditfarm-worker forward` picks the family from config.json's
# _class_name and reproduces diffusers on every CogVideoX fixture
# (hidden_states [B, F, C, H, W], ofs where the model has one) and on a Wan
# one through the same command; refuses an unknown class, a missing `ofs` and
# another family's inputs with messages naming what is wrong.
set -euo pipefail
W="${DF_BUILD_DIR:?}/worker/ditfarm-worker"
D="${DF_SOURCE_DIR:?}/tests/data"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0
for dir in "$D"/cogvideox/*/ "$D/wan/a/"; do
    cfg=$(basename "$dir")
    [ -f "$dir/inputs.safetensors" ] && [ -d "$dir/transformer" ] || continue
    "$W" forward "$dir/transformer" "$dir/inputs.safetensors" "$tmp/$cfg.safetensors" \
        --expected "$dir/expected.safetensors" >"$tmp/out" 2>&1 || {
        echo "FAIL: $cfg"; cat "$tmp/out"; exit 1; }
    grep -q 'tolerance 1.0e-04): ok$' "$tmp/out" || { echo "FAIL: $cfg"; cat "$tmp/out"; exit 1; }
    echo "ok: $cfg: $(grep -o '[A-Za-z]*Transformer3DModel sample [^,]*, [^,]*, [^,]*, [^,]*, [^]]*]' "$tmp/out") $(grep -o 'relative L2 [^(]*' "$tmp/out")"
    n=$((n + 1))
done
[ "$n" -ge 6 ] || { echo "FAIL: only $n fixtures"; exit 1; }

expect_fail() { # what, pattern, command...
    local what=$1 pat=$2; shift 2
    if "$@" >"$tmp/out" 2>&1; then echo "FAIL: $what accepted"; exit 1; fi
    grep -q -- "$pat" "$tmp/out" || { echo "FAIL: $what message"; cat "$tmp/out"; exit 1; }
    echo "ok: $what refused: $(grep -o -- "$pat.*" "$tmp/out" | head -1)"
}
C="$D/cogvideox"
# 1.5 needs ofs: the 5B inputs have none.
expect_fail "missing ofs" "this model has an ofs embedding: .*no tensor 'ofs'" \
    "$W" forward "$C/15/transformer" "$C/5b/inputs.safetensors" "$tmp/x.safetensors"
# A Wan fixture's inputs (named `latent`) given to a CogVideoX model.
expect_fail "Wan inputs" "no tensor 'hidden_states'" \
    "$W" forward "$C/5b/transformer" "$D/wan/a/inputs.safetensors" "$tmp/x.safetensors"
mkdir -p "$tmp/vae" && echo '{"_class_name": "AutoencoderKLWan"}' >"$tmp/vae/config.json"
expect_fail "unknown class" "_class_name 'AutoencoderKLWan' is not a supported transformer" \
    "$W" forward "$tmp/vae" "$C/5b/inputs.safetensors" "$tmp/x.safetensors"
# The 2B sin-cos table fixes the text length: 5B's 6 text rows vs max 7.
expect_fail "2B text length" "max_text_seq_length = 7" \
    "$W" forward "$C/2b/transformer" "$C/5b/inputs.safetensors" "$tmp/x.safetensors"
