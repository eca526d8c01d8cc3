"""How long each metric takes per 17-frame 64x64 Shapes-world clip on this machine, and how the stable Fréchet
distance compares with the usual scipy.linalg.sqrtm formula (time and agreement) at FVD-SW and I3D feature sizes.

Run: ``python benchmarks/metrics_speed.py`` (about a minute on 2 CPU cores). Prints two tables and ratios measured
in this run.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg
import torch

from labkit.data.shapes import ShapesWorld
from labkit.metrics import (
    dynamic_degree,
    flicker,
    frechet_distance,
    motion_smoothness,
    prompt_adherence,
    psnr,
    ssim,
    warping_error,
)


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def per_clip_table(n: int = 8) -> dict[str, float]:
    world = ShapesWorld("test", length=n)
    clips = [world[i] for i in range(n)]
    metrics = {
        "flicker": lambda c: flicker(c.video),
        "PSNR": lambda c: psnr(c.video, c.video.flip(0)),
        "SSIM": lambda c: ssim(c.video, c.video.flip(0)),
        "warping_error": lambda c: warping_error(c.video),
        "motion_smoothness": lambda c: motion_smoothness(c.video),
        "dynamic_degree": lambda c: dynamic_degree(c.video),
        "prompt_adherence": lambda c: prompt_adherence(c.video, c.caption),
    }
    return {name: best_of(lambda f=f: [f(c) for c in clips]) / n * 1e3 for name, f in metrics.items()}


def scipy_frechet(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def frechet_table(dims=(128, 400), n: int = 1024) -> list[tuple]:
    rng = np.random.default_rng(0)
    rows = []
    for d in dims:
        stats = []
        for shift in (0.0, 0.1):
            x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.1 + shift
            stats += [x.mean(0), np.cov(x, rowvar=False)]
        t_ours = best_of(lambda: frechet_distance(*stats))  # noqa: B023 - called at once, inside the loop
        t_scipy = best_of(lambda: scipy_frechet(*stats))  # noqa: B023
        ours, ref = frechet_distance(*stats), scipy_frechet(*stats)
        rows.append((d, t_ours * 1e3, t_scipy * 1e3, abs(ours - ref) / abs(ref)))
    return rows


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is faster on a busy machine)")
    threads = parser.parse_args().threads
    torch.set_num_threads(threads)
    table = per_clip_table()
    print(f"per-clip metric time (ms per 17x3x64x64 clip, best of 3, {threads} torch thread(s))")
    print(f"{'metric':<20}{'ms/clip':>10}")
    for name, ms in table.items():
        print(f"{name:<20}{ms:>10.2f}")
    flow = table["warping_error"] + table["motion_smoothness"] + table["dynamic_degree"]
    print(f"ratio: the three optical-flow metrics together / flicker = {flow / table['flicker']:.0f}x")
    print(f"ratio: warping_error / PSNR = {table['warping_error'] / table['PSNR']:.1f}x")
    print()
    print("Fréchet distance: labkit (eigh, symmetric form) vs scipy.linalg.sqrtm(S1 @ S2)")
    print(f"{'D':>5}{'labkit ms':>12}{'scipy ms':>12}{'rel. diff':>12}{'speed-up':>10}")
    for d, t_ours, t_scipy, rel in frechet_table():
        print(f"{d:>5}{t_ours:>12.1f}{t_scipy:>12.1f}{rel:>12.2e}{t_scipy / t_ours:>9.1f}x")


if __name__ == "__main__":
    main()
