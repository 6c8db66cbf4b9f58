#!/usr/bin/env bash
# bench_cogvideox.sh -- CogVideoX-2B block shapes (2 layers, hidden 1920 =
# 30 x 64, FFN 7680, 13x10x15 video + 226 text = 2,176 tokens) forward: ours
# on the CPU backend (bench_cogvideox_forward, % of the sgemm peak measured
# in the same run) and diffusers' CogVideoXTransformer3DModel on torch CPU at
# the same shapes and thread count, one after the other in the same session.
#
#     bench/bench_cogvideox.sh BUILD_DIR [PYTHON] [THREADS]
set -euo pipefail
B=${1:?build dir}
PY=${2:-/work/fixenv/bin/python}
T=${3:-$(nproc)}
"$B/bench/bench_cogvideox_forward" 2 "$T"
"$PY" - "$T" <<'PY'
import sys, time, torch
from diffusers import CogVideoXTransformer3DModel
torch.set_num_threads(int(sys.argv[1]))
torch.set_grad_enabled(False)
m = CogVideoXTransformer3DModel(num_layers=2, num_attention_heads=30, attention_head_dim=64,
                                 in_channels=16, out_channels=16, time_embed_dim=512,
                                 text_embed_dim=4096, max_text_seq_length=226).eval()
x = torch.randn(1, 13, 16, 20, 30)
t = torch.randn(1, 226, 4096)
ts = torch.tensor([500])
m(hidden_states=x, encoder_hidden_states=t, timestep=ts)  # warm-up
best = min((lambda: (lambda t0: (m(hidden_states=x, encoder_hidden_states=t, timestep=ts),
                                 time.perf_counter() - t0)[1])(time.perf_counter()))()
           for _ in range(2))
print("diffusers torch %s, %d threads: forward %.1f ms (same shapes, fp32)"
      % (torch.__version__, torch.get_num_threads(), best * 1e3))
PY
