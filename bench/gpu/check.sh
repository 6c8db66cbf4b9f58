#!/usr/bin/env bash
# bench/gpu/check.sh -- the device check in one command.
#
#   bench/gpu/check.sh          on a machine with one H100/H200: build the
#                               standalone check (bench/gpu/CMakeLists.txt)
#                               with the CUDA backend, then
#                               (1) every op vs the CPU backend,
#                               (2) a Wan2.1-1.3B forward (30 layers) vs CPU fp32,
#                               (3) benchmarks: 1.3B 480p/81f (32,760 tokens),
#                                   a 14B-shaped stack at 720p/81f (75,600 tokens),
#                                   against the cuBLASLt bf16 peak of this run and
#                                   diffusers+torch (bf16, SDPA) in the same run,
#                               (4) a summary, one line per figure.
#   bench/gpu/check.sh --cpu    the same steps on the CPU backend with tiny
#                               shapes (CI runs it so this script cannot rot).
#
# Needs: CMake, a C compiler, and for the GPU mode nvcc (PATH, $CUDACXX or
# /usr/local/cuda); cuDNN and NCCL are taken from $CUDNN_ROOT / $NCCL_ROOT,
# else from NVIDIA's pip wheels of the Python found ($PYTHON, else python3),
# else from the CUDA toolkit.  No Debian -dev package, no network: without
# OpenBLAS the CPU reference runs on bench/gpu/fallback/.  diffusers may
# travel as wheels in $GPUCHECK_WHEELS (put on PYTHONPATH via a temporary
# unpacked copy); without it the diffusers lines say SKIPPED.
# Environment: GPUCHECK_BUILD (build dir, default build-gpucheck[-cpu]),
# GPUCHECK_REPS (timed forwards, default 3), GPUCHECK_JOBS (build jobs),
# GPUCHECK_TIMEOUT (seconds for the check program, default 240; each
# diffusers run gets a quarter of it) -- together inside the 8-minute budget.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
mode=gpu
case "${1:-}" in
    --cpu) mode=cpu ;;
    "") ;;
    *) echo "usage: bench/gpu/check.sh [--cpu]" >&2; exit 2 ;;
esac
start=$(date +%s)
reps=${GPUCHECK_REPS:-3}
limit=${GPUCHECK_TIMEOUT:-240}
jobs=${GPUCHECK_JOBS:-$(nproc)}
build=${GPUCHECK_BUILD:-$top/build-gpucheck$([ $mode = cpu ] && echo -cpu || true)}
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
py=${PYTHON:-}
if [ -z "$py" ]; then
    for cand in python3 python; do
        if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import torch' >/dev/null 2>&1; then
            py=$cand
            break
        fi
    done
fi
py=${py:-python3}

# A pip wheel's folder (nvidia.cudnn, nvidia.nccl), or nothing.
wheel_dir() {
    "$py" - "$1" <<'PY' 2>/dev/null || true
import importlib, sys
try:
    m = importlib.import_module(sys.argv[1])
    print(list(m.__path__)[0])
except Exception:
    pass
PY
}

cmake_args=(-DCMAKE_BUILD_TYPE=Release)
if [ $mode = gpu ]; then
    nvcc=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
    [ -x "$nvcc" ] || { echo "gpucheck: ERROR no nvcc (set CUDACXX)"; exit 1; }
    cudnn=${CUDNN_ROOT:-$(wheel_dir nvidia.cudnn)}
    nccl=${NCCL_ROOT:-$(wheel_dir nvidia.nccl)}
    cmake_args+=(-DGPUCHECK_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc"
                 -DGPUCHECK_CUDNN_ROOT="$cudnn" -DGPUCHECK_NCCL_ROOT="$nccl")
    for d in "$cudnn/lib" "$nccl/lib"; do
        [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    done
    echo "gpucheck: nvcc $nvcc; cuDNN ${cudnn:-from the toolkit}; NCCL ${nccl:-from the toolkit}"
    # What to record next to the figures (bench/RESULTS.md): device, driver, versions.
    echo "gpucheck: device $(nvidia-smi --query-gpu=name,driver_version,memory.total \
        --format=csv,noheader 2>/dev/null | head -1 || echo unknown)"
    echo "gpucheck: $("$nvcc" --version | grep -o 'release [0-9.]*' || true)," \
        "$("$py" -c 'import torch; print("torch", torch.__version__, "cudnn", torch.backends.cudnn.version())' 2>/dev/null || echo 'no torch')"
else
    # What a bare lent machine may have to use: the plain-C sgemm.
    cmake_args+=(-DGPUCHECK_BLAS_FALLBACK=ON)
fi
if [ -n "${GPUCHECK_WHEELS:-}" ]; then
    mkdir -p "$log/site"
    for w in "$GPUCHECK_WHEELS"/*.whl; do
        [ -e "$w" ] && "$py" -m zipfile -e "$w" "$log/site" >/dev/null
    done
    export PYTHONPATH="$log/site${PYTHONPATH:+:$PYTHONPATH}"
fi

echo "=== gpucheck [build] $build ($mode)"
cmake -S "$here" -B "$build" "${cmake_args[@]}" >"$log/configure" 2>&1 ||
    { cat "$log/configure"; echo "gpucheck: ERROR configure failed"; exit 1; }
grep -E 'gpucheck:|ditfarm:' "$log/configure" || true
cmake --build "$build" -j "$jobs" >"$log/build" 2>&1 ||
    { tail -40 "$log/build"; echo "gpucheck: ERROR build failed"; exit 1; }

echo "=== gpucheck [1-3] ops, forward, bench"
rc=0
args=(--reps "$reps")
[ $mode = cpu ] && args+=(--cpu)
timeout "$limit" "$build/gpucheck" "${args[@]}" | tee "$log/out" || rc=1

echo "=== gpucheck [3] diffusers + torch, same shapes, same run"
if [ $mode = cpu ]; then
    "$py" "$here/diffusers_forward.py" --name wan-tiny --device cpu --layers 2 --heads 4 \
        --head-dim 16 --ffn 128 --text-dim 64 --frames 4 --height 16 --width 16 --text-len 16 \
        --reps "$reps" 2>"$log/py.err" | tee -a "$log/out" || { tail -5 "$log/py.err"; rc=1; }
else
    timeout $((limit / 4)) "$py" "$here/diffusers_forward.py" --name wan2.1-1.3b-480p --layers 30 --heads 12 \
        --ffn 8960 --frames 21 --height 60 --width 104 --reps "$reps" 2>"$log/py.err" |
        tee -a "$log/out" || { tail -5 "$log/py.err"; rc=1; }
    timeout $((limit / 4)) "$py" "$here/diffusers_forward.py" --name wan2.1-14b-shape-720p --layers 4 --heads 40 \
        --ffn 13824 --frames 21 --height 90 --width 160 --reps "$reps" 2>"$log/py.err" |
        tee -a "$log/out" || { tail -5 "$log/py.err"; rc=1; }
fi

echo "=== gpucheck [4] summary"
grep '^gpucheck: ' "$log/out" | grep -E ' (PASS|FAIL|ERROR|SKIPPED)|bench |peak |diffusers |attention paths' || true
# ditfarm vs diffusers per case: diffusers time / ditfarm time (> 1: we are faster).
awk '
    / bench / { for (i = 1; i <= NF; i++) if ($i ~ /^time_ms=/) ours[$3] = substr($i, 9) }
    / diffusers / && !/SKIPPED/ { for (i = 1; i <= NF; i++) if ($i ~ /^time_ms=/) theirs[$3] = substr($i, 9) }
    END { for (k in ours) if (k in theirs && ours[k] > 0)
              printf "gpucheck: speedup %s vs diffusers+torch = %.2fx (%s ms vs %s ms)\n",
                     k, theirs[k] / ours[k], ours[k], theirs[k] }' "$log/out"
grep -q '^gpucheck: PASS' "$log/out" || rc=1
echo "gpucheck: $([ $rc = 0 ] && echo PASS || echo FAIL) in $(( $(date +%s) - start )) s ($mode mode)"
exit $rc
