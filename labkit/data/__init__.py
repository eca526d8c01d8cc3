"""The procedural worlds every model of the course is trained on, with exact ground truth.

Taught in ``00_tour`` (Shapes) and ``06_multiview_generation`` (orbits).

- :mod:`.shapes`  the Shapes world: captions, ``make_clip(caption, seed)``, ``ShapesWorld``, ground truth
- :mod:`.orbit`   the orbit world: 3D objects rendered around a camera orbit, with depth and cameras
- :mod:`.knob`    the knob world of the tiny SVD: one object drifting at a speed set by ``motion_bucket_id``
- :mod:`.splits`  the one split-seed rule: seed-disjoint train / val / test / heldout
"""

from labkit.data.orbit import OrbitObject, OrbitViews, OrbitWorld, render_orbit, render_views
from labkit.data.shapes import (
    ALL_COMBOS,
    COLORS,
    DIRECTIONS,
    HELDOUT_COMBOS,
    SHAPES,
    SPEED_WORDS,
    SPEEDS,
    Clip,
    ClipTruth,
    ObjectSpec,
    ObjectTruth,
    ShapesWorld,
    collate_clips,
    compose_caption,
    make_clip,
    parse_caption,
    twin_caption,
    vocabulary,
)
from labkit.data.splits import SPLITS, clip_seed

__all__ = [
    "COLORS", "SHAPES", "DIRECTIONS", "SPEEDS", "SPEED_WORDS", "HELDOUT_COMBOS", "ALL_COMBOS",
    "ObjectSpec", "ObjectTruth", "ClipTruth", "Clip", "vocabulary", "parse_caption", "compose_caption",
    "twin_caption", "make_clip", "clip_seed", "SPLITS", "ShapesWorld", "collate_clips",
    "OrbitObject", "OrbitViews", "OrbitWorld", "render_orbit", "render_views",
]
