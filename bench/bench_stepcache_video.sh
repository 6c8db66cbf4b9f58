#!/usr/bin/env bash
# bench/bench_stepcache_video.sh -- step caching end to end, measured side by
# side in one run: the same shot rendered with the cache off, TeaCache and
# PromptTea at several thresholds, as lossless FFV1 video; for each, the
# denoise time, the speed-up, the passes computed, and the quality loss of
# the DECODED frames against the uncached video (PSNR and SSIM from ffmpeg's
# psnr/ssim filters) next to the latent's relative error.
#
#   bench/bench_stepcache_video.sh [BUILD_DIR] [STEPS]
# The tiny model's weights are synthetic, so this measures the mechanics
# (what skipping costs in pixels for a given threshold), not a picture.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${1:-$here/build}
steps=${2:-30}
W="$B/worker/ditfarm-worker"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$here/configs" "$work/configs"
"$W" make-tiny "$work/configs/models/tiny" >/dev/null
latent="5,18,32" # 17 frames of 256x144
"$W" calibrate "$work/configs/models/tiny" --sampler euler --steps "$steps" --shift 3 \
    --latent "$latent" --name tiny --out "$work/configs/models/tiny/stepcache-euler-$steps.json" \
    >/dev/null 2>&1
run() { # run NAME CACHE-YAML
    cat > "$work/m.yaml" <<YAML
defaults: {model: tiny, width: 256, height: 144, frames: 17, steps: $steps, seed: 9,
           guidance_scale: 5.0, flow_shift: 3.0, sampler: euler,
           output: {codec: ffv1, path: "$work/{shot}.mkv"}}
shots:
  - {id: $1, prompt: "a lighthouse on a cliff at dusk, waves below", cache: $2}
YAML
    "$W" render "$work/m.yaml" --configs "$work/configs" --threads "$(nproc)" \
        --latent-out "$work/$1.st" 2>"$work/$1.log" >/dev/null
}
metric() { # metric NAME -> "psnr ssim"
    local p s
    p=$(ffmpeg -v info -nostats -i "$work/$1.mkv" -i "$work/off.mkv" -lavfi psnr -f null - 2>&1 |
        grep -o 'average:[0-9.inf]*' | cut -d: -f2)
    s=$(ffmpeg -v info -nostats -i "$work/$1.mkv" -i "$work/off.mkv" -lavfi ssim -f null - 2>&1 |
        grep -o 'All:[0-9.]*' | cut -d: -f2)
    echo "${p:-?} ${s:-?}"
}
denoise_s() { # from the sidecar: full precision
    python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["timings_s"]["denoise"])' \
        "$work/$1.mkv.json"
}
passes() { grep -o '[0-9]* of [0-9]* passes compute' "$work/$1.log" | awk '{print $1"/"$3}' | grep . || echo all; }

echo "bench_stepcache_video: tiny model, 256x144x17 ($latent latent), euler $steps steps, guidance 5, $(nproc) cores"
run off '{policy: off}'
base=$(denoise_s off)
printf "%-22s %8s %8s %8s %10s %8s %7s\n" policy passes denoise speedup latent-err PSNR-dB SSIM
printf "%-22s %8s %8.3f %7.2fx %10s %8s %7s\n" off "$(passes off)" "$base" 1 0 inf 1
for tau in 1.0 1.5 2.5; do
    for pol in teacache prompttea; do
        name=${pol}-$tau
        run "$name" "{policy: $pol, threshold: $tau}"
        d=$(denoise_s "$name")
        err=$("$W" latent-diff "$work/off.st" "$work/$name.st" --tol 1 | awk '{print $3}')
        read -r psnr ssim <<<"$(metric "$name")"
        printf "%-22s %8s %8.3f %7.2fx %10s %8s %7s\n" "$pol tau $tau" "$(passes "$name")" "$d" \
            "$(echo "scale=2; $base / $d" | bc)" "$err" "$psnr" "$ssim"
    done
done
