#!/usr/bin/env bash
# bench/bench_sp.sh -- sequence parallelism on CPU ranks, measured side by side
# in one run: the same shot on 1 rank (all cores) and on 2 ranks (one core
# each) under mpirun, for a mid-size synthetic Wan model; prints the step
# times, the speed-up ratio and the attention communication share.
#
#   bench/bench_sp.sh [BUILD_DIR] [STEPS]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${1:-$here/build}
steps=${2:-3}
W="$B/worker/ditfarm-worker"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cores=$(nproc)

# mid-size: 4 layers, dim 512 (8 heads x 64), ffn 2048, 1280 tokens
mkdir -p "$work/mid/transformer"
cat > "$work/mid/transformer/config.json" <<JSON
{"_class_name": "WanTransformer3DModel", "attention_head_dim": 64, "cross_attn_norm": true,
 "eps": 1e-06, "ffn_dim": 2048, "freq_dim": 256, "in_channels": 16, "num_attention_heads": 8,
 "num_layers": 4, "out_channels": 16, "patch_size": [1, 2, 2], "qk_norm": "rms_norm_across_heads",
 "rope_max_seq_len": 1024, "text_dim": 512}
JSON
"$W" make-tiny "$work/mid" >/dev/null
run() { # run LABEL RANKS THREADS GUIDANCE [LAYOUT]
    local label=$1 p=$2 t=$3 g=$4 lay=${5:-}
    cat > "$work/m.yaml" <<YAML
defaults: {model: $work/mid, width: 256, height: 256, frames: 17, steps: $steps, seed: 1,
           guidance_scale: $g, sampler: euler}
shots:
  - {id: bench, prompt: a benchmark}
YAML
    local cmd=("$W" render "$work/m.yaml" --no-video --threads "$t")
    [ -n "$lay" ] && cmd+=(--layout "$lay")
    local t0 t1
    t0=$(date +%s.%N)
    if [ "$p" -gt 1 ]; then
        mpirun --oversubscribe $([ "$(id -u)" -eq 0 ] && echo --allow-run-as-root) -n "$p" \
            "${cmd[@]}" 2>"$work/log" >/dev/null
    else
        "${cmd[@]}" 2>"$work/log" >/dev/null
    fi
    t1=$(date +%s.%N)
    # mean of the steps after the first (warm-up)
    local step
    step=$(grep -o 'step [0-9]*/[0-9]* t=[0-9.]* [0-9.]*s' "$work/log" | awk 'NR>1 {s+=$4; n++} END {if (n) printf "%.3f", s/n; else print "nan"}')
    local comm
    comm=$(grep -o 'communication [0-9.]*%' "$work/log" | grep -o '[0-9.]*' || echo 0)
    printf "%-34s %d rank(s) x %d thread(s): %6.3f s/step (whole run %.1f s), attention comm %s%%\n" \
        "$label" "$p" "$t" "$step" "$(echo "$t1 - $t0" | bc)" "$comm"
    echo "$step"
}
echo "bench_sp: $(nproc) cores, mid model (4 layers, dim 512, 8x64 heads, ffn 2048), 256x256x17 -> 1280 tokens, $steps steps"
s1=$(run "no guidance, 1 rank" 1 "$cores" 1.0 | tee /dev/stderr | tail -1)
s2=$(run "no guidance, ulysses 2" 2 1 1.0 1x2x1 | tee /dev/stderr | tail -1)
s3=$(run "no guidance, ring 2" 2 1 1.0 1x1x2 | tee /dev/stderr | tail -1)
g1=$(run "guidance 5, 1 rank" 1 "$cores" 5.0 | tee /dev/stderr | tail -1)
g2=$(run "guidance 5, cfg 2" 2 1 5.0 2x1x1 | tee /dev/stderr | tail -1)
echo "speed-up 2 ranks vs 1 rank (same cores): ulysses $(echo "scale=2; $s1/$s2" | bc)x, ring $(echo "scale=2; $s1/$s3" | bc)x, cfg-parallel $(echo "scale=2; $g1/$g2" | bc)x"
