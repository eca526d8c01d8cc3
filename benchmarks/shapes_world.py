"""Shapes-world rendering speed: clips per second of 17x64x64 (the bar: >= 500 clips/s on the 2-core machine).

    python benchmarks/shapes_world.py

Renders the same set of clips with one and two objects and at two sizes, in one process, and prints the rate of
each with ratios against the default (one object, 17x64x64), all measured in this run.
"""

import time

import torch

from labkit.data.shapes import ShapesWorld


def rate(n: int, **kwargs) -> float:
    world = ShapesWorld("train", length=n, **kwargs)
    world[0]  # warm-up
    t0 = time.perf_counter()
    for i in range(n):
        world[i]
    return n / (time.perf_counter() - t0)


def main() -> None:
    torch.set_num_threads(1)
    cases = {
        "17x64x64, 1 object": dict(num_frames=17, size=64),
        "17x64x64, 2 objects": dict(num_frames=17, size=64, two_objects=1.0),
        "17x128x128, 1 object": dict(num_frames=17, size=128),
        "49x64x64, 1 object": dict(num_frames=49, size=64),
    }
    n = 1000
    results = {name: rate(n, **kwargs) for name, kwargs in cases.items()}
    base = results["17x64x64, 1 object"]
    print(f"{'case':<24}{'clips/s':>10}{'vs default':>12}")
    for name, r in results.items():
        print(f"{name:<24}{r:>10.0f}{r / base:>11.2f}x")
    print(f"bar: >= 500 clips/s of 17x64x64 -> {'met' if base >= 500 else 'NOT met'} ({base:.0f} clips/s)")


if __name__ == "__main__":
    main()
