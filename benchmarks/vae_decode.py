"""Decode cost of the tiny VAEs on the CPU: time and peak tensor memory of full vs chunked vs sliced vs tiled
decoding at several video lengths, with ratios to full decoding measured in the same run.

    python benchmarks/vae_decode.py [--frames 9 17 33 65] [--batch 2] [--repeats 2]

Uses the shipped ``data/models/vae-2d`` and ``vae-3d`` (random-weight VAEs of the same architecture when they are
absent: cost does not depend on the weights). Peak memory is ``labkit.profiling.PeakAllocated`` (the torch
profiler's peak of live tensor bytes during the decode, kernel workspaces included; weights and inputs excluded).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from labkit import DATA_DIR
from labkit.evaluation.vae import decode_cost_table, text_table
from labkit.models.vae import load_vae, tiny_vae_2d, tiny_vae_3d


def vaes() -> dict:
    out = {}
    for name, factory in (("vae-2d", tiny_vae_2d), ("vae-3d", tiny_vae_3d)):
        shipped = (DATA_DIR / "models" / name).exists()
        out[name if shipped else f"{name} (random weights)"] = load_vae(name) if shipped else factory()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[9, 17, 33, 65], help="video lengths (8k+1)")
    parser.add_argument("--batch", type=int, default=2, help="clips per decode")
    parser.add_argument("--repeats", type=int, default=2, help="timing repeats (best of)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = decode_cost_table(vaes(), args.frames, batch=args.batch, repeats=args.repeats)
    print(f"decode of {args.batch} clips of F x 64 x 64 on {torch.get_num_threads()} CPU threads\n")
    print(text_table(rows))
    print("\nratios vs full decode at the longest length:")
    longest = [r for r in rows if r["frames"] == max(args.frames)]
    for r in longest:
        print(f"  {r['VAE']:>8} {r['mode']:<44} time x{r['time / full']:<6} peak memory x{r['memory / full']:<6} "
              f"max |diff| {r['max |diff| vs full']:.2e}")


if __name__ == "__main__":
    main()
