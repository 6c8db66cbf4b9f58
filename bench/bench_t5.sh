#!/usr/bin/env bash
# bench_t5.sh -- the umT5-XXL-shaped encoder bench (bench_t5) and transformers on
# torch on the same shape, in the same run, with the same thread count.
#   bench/bench_t5.sh [BUILD_DIR] [LAYERS] [TOKENS]
# PYTHON (default /work/fixenv/bin/python, else python3) must have torch and
# transformers for the second half; without them only bench_t5 runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build} layers=${2:-2} tokens=${3:-512}
threads=$(nproc)
py=${PYTHON:-/work/fixenv/bin/python}
[ -x "$py" ] || py=python3
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$build/bench/bench_t5" --layers "$layers" --tokens "$tokens" --threads "$threads"
if "$py" -c 'import torch, transformers' 2>/dev/null; then
    "$py" "$here/bench_t5_torch.py" "$layers" "$tokens" "$threads"
else
    echo "torch: not available ($py), skipped"
fi
