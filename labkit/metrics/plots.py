"""Plots and tables for the metrics lesson: thin matplotlib / HTML over the rows that :mod:`labkit.metrics.bias`
and :func:`labkit.evaluation.leaderboard.leaderboard` return.

Taught in ``07_metric_evaluation``.
"""

from __future__ import annotations

import html

import matplotlib.pyplot as plt
import numpy as np

from labkit.metrics.bias import METRICS, sensitivity_table

__all__ = ["plot_content_bias", "plot_sensitivity", "plot_sample_size_bias", "html_table"]


def plot_content_bias(rows: list[dict], metrics=None):
    """One panel per metric: its value against corruption strength, one line per corruption; returns the figure."""

    metrics = [m for m in (metrics or METRICS) if m in rows[0]]
    kinds = list(dict.fromkeys(r["corruption"] for r in rows))
    cols = 3
    fig, axes = plt.subplots(int(np.ceil(len(metrics) / cols)), cols, figsize=(12, 2.8 * np.ceil(len(metrics) / cols)),
                             squeeze=False)
    for ax, m in zip(axes.flat, metrics):
        for kind in kinds:
            mine = sorted((r for r in rows if r["corruption"] == kind), key=lambda r: r["strength"])
            values = [r[m] if np.isfinite(r[m]) else np.nan for r in mine]
            ax.plot([r["strength"] for r in mine], values, marker="o", ms=3, label=kind)
        arrow = {1: "higher is better", -1: "lower is better", 0: "amount of motion"}[METRICS[m][0]]
        ax.set_title(f"{m} ({arrow})", fontsize=9)
        ax.set_xlabel("corruption strength", fontsize=8)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_sensitivity(rows: list[dict], metrics=None):
    """Heat map of :func:`labkit.metrics.bias.sensitivity_table`: which metric notices which corruption."""

    names, kinds, table = sensitivity_table(rows, metrics)
    fig, ax = plt.subplots(figsize=(1.1 * len(kinds) + 2, 0.45 * len(names) + 1.2))
    im = ax.imshow(table, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(kinds)), kinds, rotation=30, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(kinds)):
            ax.text(j, i, f"{table[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="worse (+) / better (-), relative to the metric's largest response")
    ax.set_title("which metric notices what (strength 0 -> max)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_sample_size_bias(result: dict):
    """FVD-SW of real clips against the number of videos, with the 5-95 % band over repeated draws."""

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.fill_between(result["sizes"], result["lo"], result["hi"], alpha=0.3, label="5-95 % of draws")
    ax.plot(result["sizes"], result["mean"], marker="o", label="mean")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("number of videos")
    ax.set_ylabel("FVD-SW (real vs real)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def html_table(rows: list[dict], digits: int = 4):
    """Rows of dicts as an HTML table (columns: union of keys, in first-seen order); returns a displayable object."""
    cols = list(dict.fromkeys(k for r in rows for k in r))

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.{digits}g}"
        return html.escape(str(v)) if v is not None else ""

    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in rows)

    class _Table:
        def _repr_html_(self):
            return f"<table style='font-size:12px'><tr>{head}</tr>{body}</table>"

        def __repr__(self):
            return "\n".join(" | ".join(fmt(r.get(c, "")) for c in cols) for r in rows)

    return _Table()
