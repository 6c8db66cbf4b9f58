#!/usr/bin/env bash
# encode_prompt_cli.sh -- `ditfarm-worker encode-prompt` reproduces transformers on
# every encoder fixture under tests/data/t5/ (token ids given with --ids: the
# same check as test_t5, through the program a user runs on their own model
# folder), writes input_ids / attention_mask as I64 and prompt_embeds as F32,
# and refuses bad folders and bad arguments with a message naming what.
set -euo pipefail
W="${DF_BUILD_DIR:?}/worker/ditfarm-worker"
D="${DF_SOURCE_DIR:?}/tests/data/t5"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0
for dir in "$D"/*/; do
    cfg=$(basename "$dir")
    [ -f "$dir/expected.safetensors" ] || continue
    "$W" encode-prompt "$dir" --ids "$dir/expected.safetensors" "$tmp/$cfg.safetensors" \
        --expected "$dir/expected.safetensors" >"$tmp/out" 2>&1 || {
        echo "FAIL: $cfg"; cat "$tmp/out"; exit 1; }
    grep -q 'tolerance 1.0e-04): ok$' "$tmp/out" || { echo "FAIL: $cfg"; cat "$tmp/out"; exit 1; }
    echo "ok: $cfg: $(grep 'relative L2' "$tmp/out")"
    n=$((n + 1))
done
[ "$n" -ge 4 ] || { echo "FAIL: only $n fixtures"; exit 1; }

# The header of what it wrote: dtypes and shapes.
hdr=$(python3 - "$tmp/umt5_a.safetensors" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n))
print(" ".join(f"{k}:{v['dtype']}:{v['shape']}" for k, v in sorted(h.items()) if k != "__metadata__"))
PY
)
[ "$hdr" = "attention_mask:I64:[4, 512] input_ids:I64:[4, 512] prompt_embeds:F32:[4, 512, 32]" ] \
    || { echo "FAIL: header: $hdr"; exit 1; }
echo "ok: header $hdr"

expect_fail() { # what, needle, command...
    local what=$1 needle=$2; shift 2
    if "$@" >"$tmp/out" 2>&1; then echo "FAIL: $what accepted"; exit 1; fi
    grep -qF -- "$needle" "$tmp/out" || { echo "FAIL: $what: no '$needle'"; cat "$tmp/out"; exit 1; }
    echo "ok: $what refused: $(grep -F -- "$needle" "$tmp/out" | head -1 | sed 's/.*encode-prompt: //')"
}
expect_fail "missing text_encoder" "$tmp/nowhere/text_encoder/config.json" \
    "$W" encode-prompt "$tmp/nowhere" --ids "$D/umt5_a/expected.safetensors" "$tmp/x.safetensors"
mkdir -p "$tmp/bad/text_encoder"
cp "$D/umt5_a/text_encoder/config.json" "$tmp/bad/text_encoder/"
head -c 2000 "$D/umt5_a/text_encoder/model.safetensors" >"$tmp/bad/text_encoder/model.safetensors"
expect_fail "truncated weights" "model.safetensors" \
    "$W" encode-prompt "$tmp/bad" --ids "$D/umt5_a/expected.safetensors" "$tmp/x.safetensors"
expect_fail "ids outside the vocabulary" "outside the vocabulary [0, 77)" \
    "$W" encode-prompt "$D/umt5_odd" --ids "$D/umt5_a/expected.safetensors" "$tmp/x.safetensors"
expect_fail "no prompt" "usage:" "$W" encode-prompt "$D/umt5_a" "$tmp/x.safetensors"
expect_fail "two sources" "usage:" \
    "$W" encode-prompt "$D/umt5_a" --prompt a --prompts "$tmp/p" "$tmp/x.safetensors"
: >"$tmp/empty"
expect_fail "empty prompts file" "no prompts" \
    "$W" encode-prompt "$D/umt5_a" --prompts "$tmp/empty" "$tmp/x.safetensors"

# Text to embeddings as diffusers' WanPipeline._get_t5_prompt_embeds (the
# wan_pipe fixture: prompt_clean, tokenizer, encoder, cut, zero padding): the
# token ids identical, the rows within 1e-4; the over-long prompt is truncated
# with a warning.
P="$D/wan_pipe"
"$W" encode-prompt "$P" --prompts "$P/prompts.txt" "$tmp/wp.safetensors" \
    --expected "$P/expected.safetensors" >"$tmp/out" 2>&1 || { cat "$tmp/out"; echo "FAIL: wan_pipe"; exit 1; }
grep -q "input_ids vs .*: identical" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: ids"; exit 1; }
grep -q 'tolerance 1.0e-04): ok' "$tmp/out" || { cat "$tmp/out"; echo "FAIL: rows"; exit 1; }
grep -q "prompt 7: .* tokens, truncated to 512" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: no warning"; exit 1; }
echo "ok: wan_pipe prompts: ids identical to the pipeline, $(grep -o 'relative L2[^(]*' "$tmp/out")"
"$W" encode-prompt "$P" --prompt "A cat walks on the grass, realistic." --tokens-only \
    "$tmp/tok.safetensors" >"$tmp/out" 2>&1 || { cat "$tmp/out"; echo "FAIL: tokens-only"; exit 1; }
grep -q "(tokens only)" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: tokens-only"; exit 1; }
echo "ok: --tokens-only"
printf 'a fine prompt\nbad \xc3\x28 byte\n' >"$tmp/bad.txt"
expect_fail "invalid UTF-8" "bad.txt:2: " \
    "$W" encode-prompt "$P" --prompts "$tmp/bad.txt" "$tmp/x.safetensors"
grep -q "offset 4" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: no byte offset"; exit 1; }
expect_fail "no tokenizer" "tokenizer" \
    "$W" encode-prompt "$D/umt5_a" --prompt "a cat" "$tmp/x.safetensors"

# CogVideoX feeds T5 v1.1 differently (no cleaning, no mask, every row kept):
# the cog_pipe fixture comes from CogVideoXPipeline._get_t5_prompt_embeds.
C="$D/cog_pipe"
"$W" encode-prompt "$C" --style cogvideox --max-len 226 --prompts "$C/prompts.txt" \
    "$tmp/cp.safetensors" --expected "$C/expected.safetensors" >"$tmp/out" 2>&1 \
    || { cat "$tmp/out"; echo "FAIL: cog_pipe"; exit 1; }
grep -q "input_ids vs .*: identical" "$tmp/out" && grep -q 'tolerance 1.0e-04): ok' "$tmp/out" \
    || { cat "$tmp/out"; echo "FAIL: cog_pipe"; exit 1; }
echo "ok: cog_pipe (CogVideoX style): ids identical, $(grep -o 'relative L2[^(]*' "$tmp/out")"
expect_fail "unknown style" "usage:" \
    "$W" encode-prompt "$C" --style sdxl --prompt a "$tmp/x.safetensors"
