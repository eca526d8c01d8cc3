"""Time and peak memory of spatial, temporal, factorised and joint attention as the number of frames grows.

Run: ``python benchmarks/attention_cost.py [--height 16 --width 16 --heads 2 --head-dim 32 --backend auto]``.
Prints one row per (variant, F) with the measured time and peak memory next to the cost model, then the measured
growth ratios from F=8 to F=64 (the model says joint ~ F^2 = 64x, temporal ~ F^2 per pixel but on F-token
sequences, spatial ~ F, so factorised ~ F = 8x while spatial dominates). Taught in ``02_temporal_attention``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from labkit.attention import measure_attention

FRAMES = (8, 16, 32, 64)
VARIANTS = ("spatial", "temporal", "factorised", "joint")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--height", type=int, default=16)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--head-dim", type=int, default=32)
    p.add_argument("--backend", default="auto", choices=["auto", "math", "flash"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="1: stable timings on a busy shared CPU")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"attention cost on {device} ({args.threads} thread(s)), float32, backend={args.backend}, grid F x {args.height} x {args.width}, "
          f"{args.heads} heads x {args.head_dim}")
    print(f"{'variant':<11}{'F':>4}{'tokens/seq':>11}{'model GFLOP':>13}{'time ms':>10}{'GFLOP/s':>9}"
          f"{'peak MiB':>10}{'model matrix MiB':>18}")
    results = {}
    for variant in VARIANTS:
        for f in FRAMES:
            m = measure_attention(variant, f, args.height, args.width, args.heads, args.head_dim,
                                  repeats=args.repeats, backend=args.backend, device=device)
            results[variant, f] = m
            print(f"{variant:<11}{f:>4}{m.model.seq_len:>11}{m.model.gflops:>13.3f}{m.seconds * 1e3:>10.2f}"
                  f"{m.model.gflops / m.seconds:>9.1f}{m.peak_bytes / 2**20:>10.1f}{m.model.matrix_bytes / 2**20:>18.1f}")
    lo, hi = FRAMES[0], FRAMES[-1]
    print(f"\ngrowth from F={lo} to F={hi} (x{hi // lo} frames), measured in this run vs the FLOP model:")
    print(f"{'variant':<11}{'time ratio':>11}{'model FLOP ratio':>18}{'peak-memory ratio':>19}")
    for variant in VARIANTS:
        a, b = results[variant, lo], results[variant, hi]
        print(f"{variant:<11}{b.seconds / a.seconds:>11.1f}{b.model.flops / a.model.flops:>18.1f}"
              f"{b.peak_bytes / max(a.peak_bytes, 1):>19.1f}")
    j, fa = results["joint", hi], results["factorised", hi]
    print(f"\nat F={hi}: joint / factorised time = {j.seconds / fa.seconds:.1f}x "
          f"(model FLOPs {j.model.flops / fa.model.flops:.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
