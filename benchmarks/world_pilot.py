"""The world-v2 pilot: what a VAE keeps of each geometry, and what a t2v pilot draws, per attribute and shape.

Run::

    python benchmarks/world_pilot.py ceiling --vae data/models/vae-3d-v4 --world v2
    python benchmarks/world_pilot.py t2v --pipe outputs/pilot/t2v-b --world v2
    python benchmarks/world_pilot.py flops --vae data/models/vae-3d-v4 --patch-size 2
    python benchmarks/world_pilot.py placement

``ceiling``: the VAE's reconstructions of held-out clips (84 one-object, every colour x shape x direction, and 48
two-object) read back by the adherence judge, with PSNR: what no denoiser trained on that VAE can beat.
``t2v``: the same evaluation of a pipeline's samples (25 steps, guidance 4). ``flops``: training FLOPs of one
t2v step (batch 16) for a VAE's latent grid and a patch size, counted with ``torch.utils.flop_counter``, so
pilots can be given equal compute. ``placement``: for candidate radius ranges and speed scales, how often a random
placement of two quick objects keeps them apart (circumscribed circles 0.03 of the frame apart in every frame),
for the hardest pair of shape x direction: where that is 0, two objects do not fit. Each prints JSON lines. The table it fed is in ``docs/models.md``
("World v2").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from diffusers import DiffusionPipeline  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from labkit.data import shapes  # noqa: E402
from labkit.data.shapes import DIRECTIONS, SHAPES, WORLDS, Geometry, ObjectSpec  # noqa: E402
from labkit.evaluation.t2v import evaluate_t2v, vae_ceiling  # noqa: E402
from labkit.models.cogvideox import new_denoiser, vae_spatial_factor  # noqa: E402
from labkit.models.vae import load_vae  # noqa: E402

KEYS = ("bar", "all_attributes", "color", "shape", "direction", "speed", "count", "shape_kept", "by_shape", "psnr")


def _short(report: dict) -> dict:
    out = {k: report[k] for k in KEYS if k in report}
    return {k: ({s: round(x, 3) for s, x in v.items()} if isinstance(v, dict) else round(v, 3)) for k, v in out.items()}


def placement(draws: int = 300, size: int = 64) -> None:
    """Print, per candidate geometry, the success rate of random two-object placement for its hardest pair."""
    rng = np.random.default_rng(0)
    pairs = list(itertools.combinations_with_replacement(itertools.product(SHAPES, DIRECTIONS), 2))
    for radius in [(0.09, 0.12), (0.12, 0.15), (0.13, 0.16), (0.14, 0.17), (0.15, 0.18)]:
        for quick in (0.3, 0.36, 0.45, 0.6):
            geometry = Geometry(radius, {"slowly": quick / 3, "normal": 2 * quick / 3, "quickly": quick}, apart=0.03)
            worst, hardest = 1.0, None
            for (sa, da), (sb, db) in pairs:
                a_spec, b_spec = ObjectSpec("red", sa, da, "quickly"), ObjectSpec("blue", sb, db, "quickly")
                ok = 0
                for _ in range(draws):
                    a, b = (shapes._place(s, rng, 17, size, geometry) for s in (a_spec, b_spec))
                    gap = np.linalg.norm(a.positions - b.positions, axis=1).min() - shapes._reach(a) - shapes._reach(b)
                    ok += gap >= geometry.apart * size
                if ok / draws < worst:
                    worst, hardest = ok / draws, f"{a_spec.caption()} and {b_spec.caption()}"
            print(json.dumps({"radius": radius, "quickly": quick, "worst_success": round(worst, 4),
                              "hardest": hardest}), flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["ceiling", "t2v", "flops", "placement"])
    p.add_argument("--vae", type=Path, help="ceiling, flops: a 3D VAE folder")
    p.add_argument("--pipe", type=Path, help="t2v: a text-to-video pipeline folder")
    p.add_argument("--world", choices=sorted(WORLDS), default="v2")
    p.add_argument("--one", type=int, default=84, help="one-object held-out clips")
    p.add_argument("--two", type=int, default=48, help="two-object held-out clips")
    p.add_argument("--patch-size", type=int, default=2, help="flops: the transformer's patch size")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    row = {"what": args.what, "world": args.world}
    if args.what == "placement":
        placement()
        return 0
    if args.what == "flops":
        vae = load_vae(args.vae)
        model = new_denoiser("t2v", vae.config.latent_channels, patch_size=args.patch_size,
                             spatial_factor=vae_spatial_factor(vae))
        h = 64 // vae_spatial_factor(vae)
        x = torch.randn(16, 5, vae.config.latent_channels, h, h)
        with FlopCounterMode(display=False) as counter:
            loss = model(x, torch.randint(0, 1000, (16,)), torch.zeros(16, 16, dtype=torch.long)).square().mean()
            loss.backward()
        row.update(vae=str(args.vae), patch_size=args.patch_size, gflops_per_step=counter.get_total_flops() / 1e9,
                   parameters=sum(q.numel() for q in model.parameters()))
    else:
        if args.what == "ceiling":
            model = load_vae(args.vae)
            row["vae"] = str(args.vae)
            run = lambda n, two: vae_ceiling(model, n, world=args.world, two_objects=two, progress=False)  # noqa: E731
        else:
            pipe = DiffusionPipeline.from_pretrained(args.pipe)
            pipe.set_progress_bar_config(disable=True)
            row["pipe"] = str(args.pipe)
            run = lambda n, two: evaluate_t2v(pipe, n, world=args.world, two_objects=two, progress=False)  # noqa: E731
        row["one"] = _short(run(args.one, False))
        row["two"] = _short(run(args.two, True))
    row["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
