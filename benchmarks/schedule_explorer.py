"""How fast does notebook 03's schedule explorer react? Budget: <= 50 ms per control change (issue 5).

Drives the real widget headlessly (setting ``control.value`` runs the same callback a click would), records the
compute and draw time of each update, and compares the blitted redraw with a naive full ``savefig`` of the same
figure measured in the same run.

    python benchmarks/schedule_explorer.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from labkit.widgets import png_html
from labkit.widgets.schedules import schedule_explorer

BUDGET_MS = 50.0


def _changes(repeats: int):
    """A realistic sequence of control changes: shift drags, zero-SNR toggles, schedule switches."""
    names = ["linear", "scaled_linear", "cosine", "flow"]
    for i in range(repeats):
        yield "shift", [0.5, 1.0, 2.0, 4.0, 8.0][i % 5]
        yield "zero_snr", bool(i % 2)
        yield "name", names[i % len(names)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="rounds of (shift, zero-SNR, schedule) changes")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)

    panel = schedule_explorer()
    for _ in range(3):  # warm-up: font cache, first PNG encode
        panel.controls["shift"].value = 2.0
        panel.controls["shift"].value = 1.0
    by_control: dict[str, list[tuple[float, float, float]]] = {}
    for control, value in _changes(args.repeats):
        before = len(panel.timings_ms)
        start = time.perf_counter()
        panel.controls[control].value = value
        wall = 1e3 * (time.perf_counter() - start)
        if len(panel.timings_ms) > before:  # setting the same value again triggers no update
            compute, draw = panel.timings_ms[-1]
            by_control.setdefault(control, []).append((compute, draw, wall))

    naive = []
    for _ in range(max(5, args.repeats // 2)):
        start = time.perf_counter()
        png_html(panel.plot.fig)  # full redraw of every axis, tick and label + default PNG
        naive.append(1e3 * (time.perf_counter() - start))

    print(f"{'control change':<16}{'n':>4}{'compute ms':>12}{'draw ms':>10}{'median ms':>11}{'p95 ms':>9}")
    all_wall = []
    for control, rows in by_control.items():
        walls = sorted(r[2] for r in rows)
        all_wall += walls
        p95 = walls[min(len(walls) - 1, int(0.95 * len(walls)))]
        print(f"{control:<16}{len(rows):>4}{statistics.median(r[0] for r in rows):>12.2f}"
              f"{statistics.median(r[1] for r in rows):>10.2f}{statistics.median(walls):>11.2f}{p95:>9.2f}")
    median_all = statistics.median(all_wall)
    print(f"{'naive savefig':<16}{len(naive):>4}{'':>12}{'':>10}{statistics.median(naive):>11.2f}"
          f"{sorted(naive)[int(0.95 * (len(naive) - 1))]:>9.2f}")
    print()
    print(f"median update {median_all:.1f} ms = {median_all / BUDGET_MS:.2f} x the {BUDGET_MS:.0f} ms budget "
          f"({'within' if median_all <= BUDGET_MS else 'OVER'} budget)")
    print(f"blitted update is {statistics.median(naive) / median_all:.1f}x faster than a full savefig redraw")


if __name__ == "__main__":
    main()
