#!/usr/bin/env bash
# sample_cli.sh -- `ditfarm-worker sample` replays CogVideoXPipeline's guided
# loop (DDIM 2B, DPM 5B with its noise draws and dynamic CFG; Wan with UniPC)
# and matches the
# diffusers trajectory at every step; refuses a missing noise draw, a step
# count diffusers' trailing spacing breaks, and an unknown scheduler.
set -euo pipefail
W="${DF_BUILD_DIR:?}/worker/ditfarm-worker"
D="${DF_SOURCE_DIR:?}/tests/data/cogvideox"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0
for dir in "$D"/sample_*/; do
    cfg=$(basename "$dir")
    # shellcheck disable=SC2046
    "$W" sample "$dir" "$dir/in.safetensors" "$tmp/$cfg.safetensors" $(cat "$dir/args") \
        --expected "$dir/expected.safetensors" >"$tmp/out" 2>&1 || {
        echo "FAIL: $cfg"; cat "$tmp/out"; exit 1; }
    grep -q 'tolerance 1.0e-04): ok$' "$tmp/out" || { echo "FAIL: $cfg"; cat "$tmp/out"; exit 1; }
    echo "ok: $cfg: $(head -1 "$tmp/out" | sed 's/^wrote [^:]*: //'); $(grep -o 'worst relative L2 [^(]*([^;]*' "$tmp/out")"
    n=$((n + 1))
done
[ "$n" -ge 3 ] || { echo "FAIL: only $n trajectories"; exit 1; }

expect_fail() { # what, pattern, command...
    local what=$1 pat=$2; shift 2
    if "$@" >"$tmp/out" 2>&1; then echo "FAIL: $what accepted"; exit 1; fi
    grep -q -- "$pat" "$tmp/out" || { echo "FAIL: $what message"; cat "$tmp/out"; exit 1; }
    echo "ok: $what refused: $(grep -o -- "$pat.*" "$tmp/out" | head -1)"
}
S="$D/sample_dpm"
# 6 steps need 10 draws; the file holds the 8 of 5 steps.
expect_fail "missing draw" "no tensor 'noise_draw_8'" \
    "$W" sample "$S" "$S/in.safetensors" "$tmp/x.safetensors" --steps 6
expect_fail "61 trailing steps" "61 steps with trailing spacing make 62 timesteps" \
    "$W" sample "$S" "$S/in.safetensors" "$tmp/x.safetensors" --steps 61
mkdir -p "$tmp/sch" && echo '{"_class_name": "EulerAncestralDiscreteScheduler"}' \
    >"$tmp/sch/scheduler_config.json"
expect_fail "unknown scheduler" "scheduler 'EulerAncestralDiscreteScheduler' is not supported" \
    "$W" sample "$S" "$S/in.safetensors" "$tmp/x.safetensors" --steps 5 --scheduler "$tmp/sch"
