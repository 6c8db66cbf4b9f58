#!/usr/bin/env python3
"""diffusers_forward.py -- the same Wan2.1 forward through diffusers on torch,
for bench/gpu/check.sh to put next to ditfarm's figure in the same run.

WanTransformer3DModel with the geometry given on the command line, bf16 on
CUDA (fp32 on CPU), attention through torch's scaled_dot_product_attention
(diffusers' default processor), torch.inference_mode.  Weights are diffusers'
own random initialisation with the same shapes as ditfarm's synthetic ones:
the time of a forward does not depend on the weight values.  One warm-up,
then --reps timed forwards (synchronized); prints one line

    gpucheck: diffusers NAME ... time_ms=BEST mean_ms=MEAN

or "gpucheck: diffusers NAME SKIPPED <why>" when torch/diffusers are missing
or the device is not there, so the check never fails for lack of them.
"""
import argparse
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--ffn", type=int, required=True)
    ap.add_argument("--text-dim", type=int, default=4096)
    ap.add_argument("--frames", type=int, required=True)
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--text-len", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    try:
        import torch
        from diffusers import WanTransformer3DModel
    except Exception as e:  # noqa: BLE001 - any import failure means "not here"
        print(f"gpucheck: diffusers {a.name} SKIPPED import failed: {e}", flush=True)
        return 0
    if a.device == "cuda" and not torch.cuda.is_available():
        print(f"gpucheck: diffusers {a.name} SKIPPED torch sees no CUDA device", flush=True)
        return 0
    from diffusers.utils import logging as dlog
    dlog.set_verbosity_error()
    dtype = torch.bfloat16 if a.device == "cuda" else torch.float32
    torch.manual_seed(0)
    # Built on the device (random init there: seconds, not minutes on one core).
    with torch.device(a.device):
        model = WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=a.heads, attention_head_dim=a.head_dim,
            in_channels=16, out_channels=16, text_dim=a.text_dim, freq_dim=256, ffn_dim=a.ffn,
            num_layers=a.layers, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
        )
    model = model.to(dtype=dtype).eval()
    # As from_pretrained(torch_dtype=bf16) leaves them: the modules diffusers
    # keeps in fp32 (time embedder, norms, modulation tables, rope).
    keep = set(getattr(model, "_keep_in_fp32_modules", None) or [])
    for n, m in model.named_modules():
        if keep.intersection(n.split(".")):
            m.to(torch.float32)
    x = torch.randn(1, 16, a.frames, a.height, a.width, device=a.device, dtype=dtype)
    ctx = torch.randn(1, a.text_len, a.text_dim, device=a.device, dtype=dtype)
    t = torch.tensor([700], device=a.device)

    def sync():
        if a.device == "cuda":
            torch.cuda.synchronize()

    times = []
    with torch.inference_mode():
        for r in range(a.reps + 1):
            sync()
            t0 = time.perf_counter()
            model(hidden_states=x, timestep=t, encoder_hidden_states=ctx, return_dict=False)
            sync()
            if r > 0:
                times.append(time.perf_counter() - t0)
    tokens = a.frames * (a.height // 2) * (a.width // 2)
    print(f"gpucheck: diffusers {a.name} layers={a.layers} tokens={tokens} "
          f"dtype={str(dtype).replace('torch.', '')} torch={torch.__version__} "
          f"time_ms={min(times) * 1e3:.1f} mean_ms={sum(times) / len(times) * 1e3:.1f}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
