"""The one split-seed rule of every world: seed-disjoint train / val / test / heldout.

Taught in ``00_tour``. A world draws item ``index`` of a split from the seed :func:`clip_seed` returns; the splits
use disjoint seed ranges, so no evaluation seed is ever trained on.
"""

from __future__ import annotations

__all__ = ["SPLITS", "clip_seed", "check_split"]

#: First seed of each split; each split (and each ``seed`` within it) owns a range of 10 million seeds.
SPLITS: dict[str, int] = {"train": 0, "val": 100_000_000, "test": 200_000_000, "heldout": 300_000_000}


def check_split(split: str, allowed=tuple(SPLITS)) -> str:
    """``split`` if it is one of ``allowed``; a ``ValueError`` naming them otherwise."""
    if split not in allowed:
        raise ValueError(f"expected split in {list(allowed)}, got {split!r}")
    return split


def clip_seed(split: str, index: int, seed: int = 0) -> int:
    """The seed of item ``index`` of a split: ``SPLITS[split] + 10_000_000 * seed + index``."""
    check_split(split)
    if not 0 <= index < 10_000_000:
        raise ValueError(f"expected 0 <= index < 10_000_000, got {index}")
    return SPLITS[split] + 10_000_000 * seed + index
