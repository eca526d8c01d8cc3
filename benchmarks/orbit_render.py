"""How fast the orbit world renders: views per second at 64x64 (issue 9's bar: >= 50 views/s on the 2-core machine).

    python benchmarks/orbit_render.py [--size 64] [--views 8] [--repeats 3] [--threads 1 2]

Renders an 8-view orbit of every object kind, with and without anti-aliasing (3x3 adaptive supersampling),
round-robin over the settings so that load spikes on a shared machine hit every row alike; prints the median
views/s per row and the ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from labkit.data.orbit import KINDS, OrbitObject, render_orbit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--views", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[1],
                   help="torch threads per row (2 threads on a machine busy with other work can be much slower)")
    args = p.parse_args()
    settings = [(threads, aa) for threads in args.threads for aa in (1, 3)]
    times: dict = {s: [] for s in settings}
    render_orbit(OrbitObject("cube", 0.9, 0.0, 0.1, 0.8, 0.9), 2, 20.0, 16)  # warm-up
    for _ in range(args.repeats):
        for threads, aa in settings:
            torch.set_num_threads(threads)
            t0 = time.perf_counter()
            for k, kind in enumerate(KINDS):
                render_orbit(OrbitObject(kind, 0.9, 17.0 * k, 0.1 * k, 0.8, 0.9), args.views, 20.0, args.size,
                             antialias=aa)
            times[(threads, aa)].append(time.perf_counter() - t0)
    n = args.views * len(KINDS)
    rate = {s: n / statistics.median(t) for s, t in times.items()}
    print(f"orbit world, {args.size}x{args.size}, {args.views}-view orbits of {', '.join(KINDS)}; "
          f"median of {args.repeats}")
    print(f"{'threads':>7} | {'antialias':>9} | {'views/s':>8} | {'bar >= 50':>9}")
    for (threads, aa), r in rate.items():
        print(f"{threads:>7} | {aa:>9} | {r:8.1f} | {'yes' if r >= 50 else 'no':>9}")
    for threads in args.threads:
        print(f"anti-aliasing cost at {threads} thread(s): {rate[(threads, 1)] / rate[(threads, 3)]:.2f}x slower")
    if len(args.threads) > 1:
        a, b = args.threads[0], args.threads[-1]
        print(f"{b} vs {a} threads (antialias 3): {rate[(b, 3)] / rate[(a, 3)]:.2f}x")


if __name__ == "__main__":
    main()
