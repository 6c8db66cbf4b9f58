#!/usr/bin/env python3
"""bench_t5_torch.py -- transformers' UMT5EncoderModel on torch (CPU) on the shape
bench_t5 runs: d_model 4096, d_ff 10240, 64 heads x 64, LAYERS blocks, one prompt of
TOKENS real tokens, fp32 compute (bf16-rounded random weights, eager attention),
best of 2.  Prints one line `torch: SECONDS s (GFLOP/s)` for bench_t5.sh.

    python3 bench/bench_t5_torch.py [LAYERS] [TOKENS] [THREADS]
"""
import sys
import time

import torch
from transformers import UMT5Config, UMT5EncoderModel


def main():
    layers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    if threads > 0:
        torch.set_num_threads(threads)
    cfg = UMT5Config(vocab_size=4096, d_model=4096, d_kv=64, d_ff=10240, num_layers=layers,
                     num_heads=64, dropout_rate=0.0, feed_forward_proj="gated-gelu")
    torch.manual_seed(0)
    with torch.device("cpu"):
        model = UMT5EncoderModel(cfg).eval()
    model.config._attn_implementation = "eager"
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    ids = torch.randint(2, 4096, (1, tokens))
    ids[0, -1] = 1
    mask = torch.ones_like(ids)
    best = 1e30
    with torch.no_grad():
        for _ in range(2):
            t0 = time.perf_counter()
            model(input_ids=ids, attention_mask=mask)
            best = min(best, time.perf_counter() - t0)
    inner = 64 * 64
    flops = layers * (2.0 * tokens * 4096 * (4 * inner + 3 * 10240) + 4.0 * tokens * tokens * inner)
    print(f"torch: {best:.3f} s ({flops / best / 1e9:.1f} GFLOP/s, {torch.get_num_threads()} "
          f"threads, torch {torch.__version__})")


if __name__ == "__main__":
    main()
