"""The one split-seed rule of every world: seed-disjoint train / val / test / heldout.

Taught in ``00_tour``. A world draws item ``index`` of a split from the seed :func:`clip_seed` returns; the splits
use disjoint seed ranges, so no evaluation seed is ever trained on.
"""

from __future__ import annotations

from labkit.checks import Number, check_args, check_choice, check_number

__all__ = ["SPLITS", "clip_seed", "check_split"]

#: First seed of each split; each split (and each ``seed`` within it) owns a range of 10 million seeds.
SPLITS: dict[str, int] = {"train": 0, "val": 100_000_000, "test": 200_000_000, "heldout": 300_000_000}


_INDEX = Number(integer=True, low=0, high=10_000_000, high_open=True)  # each seed's range within a split


def check_split(split: str, allowed=tuple(SPLITS)) -> str:
    """``split`` if it is one of ``allowed``; a ``ValueError`` naming them otherwise."""
    return check_choice(split, "split", list(allowed), what="split")


def clip_seed(split: str, index: int, seed: int = 0) -> int:
    """The seed of item ``index`` of a split: ``SPLITS[split] + 10_000_000 * seed + index``."""
    check_split(split)
    check_number(index, "index", _INDEX)
    check_args(seed=seed)
    return SPLITS[split] + 10_000_000 * seed + index
