#!/usr/bin/env bash
# wan_forward_cli.sh -- `ditfarm-worker wan-forward` reproduces diffusers on
# every fixture under tests/data/wan/ (the same check as test_wan_model, through
# the program a user would run on their own model folder), and refuses inputs
# that do not fit the model with a message naming both sizes.
set -euo pipefail
W="${DF_BUILD_DIR:?}/worker/ditfarm-worker"
D="${DF_SOURCE_DIR:?}/tests/data/wan"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0
for dir in "$D"/*/; do
    cfg=$(basename "$dir")
    [ -f "$dir/expected.safetensors" ] || continue
    "$W" wan-forward "$dir/transformer" "$dir/inputs.safetensors" "$tmp/$cfg.safetensors" \
        --expected "$dir/expected.safetensors" >"$tmp/out" 2>&1 || {
        echo "FAIL: $cfg"; cat "$tmp/out"; exit 1; }
    grep -q 'tolerance 1.0e-04): ok$' "$tmp/out" || { echo "FAIL: $cfg"; cat "$tmp/out"; exit 1; }
    echo "ok: $cfg: $(grep 'relative L2' "$tmp/out")"
    n=$((n + 1))
done
[ "$n" -ge 4 ] || { echo "FAIL: only $n fixtures"; exit 1; }

if "$W" wan-forward "$D/b/transformer" "$D/a/inputs.safetensors" "$tmp/x.safetensors" \
    >"$tmp/out" 2>&1; then
    echo "FAIL: mismatched inputs accepted"; exit 1
fi
grep -q 'has 16 channels and text 32 features; the model wants 4 and 24' "$tmp/out" \
    || { echo "FAIL: mismatch message"; cat "$tmp/out"; exit 1; }
echo "ok: mismatched inputs refused"
