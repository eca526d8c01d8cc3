"""The Shapes world: a procedural, deterministic video world with captions and ground truth.

Taught in ``00_tour``; every model of the course is trained on it and every metric is checked on it.

A clip shows one or two coloured shapes moving in a straight line over a dark background. The caption
grammar is::

    caption := object (" and " object)?
    object  := "a" COLOR SHAPE "moving" DIRECTION [SPEED]

with the words in :data:`COLORS`, :data:`SHAPES`, :data:`DIRECTIONS` and :data:`SPEEDS`
(``"a red circle moving left quickly and a white square moving up"``). Because the world is generated,
everything a metric could want to know is known exactly: per-frame positions, velocity, colour, shape, size.

Rendering uses signed distances with a one-pixel linear ramp, i.e. anti-aliased edges and sub-pixel motion,
and is vectorised over frames (see ``benchmarks/shapes_world.py`` for the clips/s it reaches).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

import numpy as np
import torch

from labkit.checks import check_args, check_choice
from labkit.data.splits import check_split, clip_seed

__all__ = ["COLORS", "SHAPES", "DIRECTIONS", "SPEEDS", "Geometry", "WORLDS", "WORLD", "check_world", "SPEED_WORDS", "ALL_COMBOS", "HELDOUT_COMBOS", "vocabulary",
           "ObjectSpec", "parse_caption", "compose_caption", "ObjectTruth", "ClipTruth", "Clip",
           "make_clip", "ShapesWorld", "collate_clips", "twin_caption"]


#: Colour words and their RGB values in [0, 1].
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.92, 0.12, 0.12),
    "green": (0.12, 0.80, 0.18),
    "blue": (0.15, 0.32, 0.98),
    "yellow": (0.95, 0.88, 0.12),
    "magenta": (0.92, 0.15, 0.88),
    "cyan": (0.12, 0.88, 0.92),
    "white": (1.0, 1.0, 1.0),
}


SHAPES: tuple[str, ...] = ("square", "circle", "triangle")


#: Direction words and their unit vectors in image coordinates (x right, y down).
DIRECTIONS: dict[str, tuple[int, int]] = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}


@dataclass(frozen=True)
class Geometry:
    """How big a world's objects are and how far they travel, as fractions of the frame size.

    ``radius``: the range an object's radius is drawn from; ``speeds``: per speed word, the distance travelled
    over the whole clip (``"normal"`` is what a caption with no speed word means); ``apart``: in two-object clips
    the shapes' circumscribed circles stay at least ``apart`` of the frame apart in every frame (``None``: no
    check, the objects may overlap).
    """

    radius: tuple[float, float]
    speeds: dict[str, float]
    apart: float | None = None
    distinct_colors: bool = False  # two-object captions of ShapesWorld name two different colours


#: The Shapes world's geometries by name. ``"v1"``: objects 0.09-0.12 of the frame in radius, travelling 0.2 / 0.4 /
#: 0.6 of the frame over a clip; two objects may overlap. ``"v2"``: v1's sizes and speeds, and two objects of
#: different colours that never come within 0.03 of the frame of each other. ``"v2-large"``: the pilot candidate
#: with objects 0.12-0.15 of the frame, which must travel at most 0.36 of it for two to fit. ``docs/models.md``,
#: "World v2", has the placement and pilot measurements behind the choice.
WORLDS: dict[str, Geometry] = {
    "v1": Geometry(radius=(0.09, 0.12), speeds={"slowly": 0.2, "normal": 0.4, "quickly": 0.6}),
    "v2": Geometry(radius=(0.09, 0.12), speeds={"slowly": 0.2, "normal": 0.4, "quickly": 0.6}, apart=0.03,
                   distinct_colors=True),
    "v2-large": Geometry(radius=(0.12, 0.15), speeds={"slowly": 0.12, "normal": 0.24, "quickly": 0.36}, apart=0.03,
                         distinct_colors=True),
}


WORLD = "v1"  # the geometry every function uses unless told otherwise


#: Speed words and the distance travelled over the whole clip, as a fraction of the frame size, in :data:`WORLD`.
SPEEDS: dict[str, float] = WORLDS[WORLD].speeds


def check_world(world: str) -> Geometry:
    """The :class:`Geometry` named ``world``; a ``ValueError`` naming the worlds otherwise."""
    return WORLDS[check_choice(world, "world", WORLDS, what="world")]


SPEED_WORDS = ("slowly", "quickly")  # the words a caption may contain


ALL_COMBOS: tuple[tuple[str, str, str], ...] = tuple(itertools.product(COLORS, SHAPES, DIRECTIONS))


#: Colour-shape-direction combinations never shown in the train and val splits: the test of
#: compositional generalisation (each colour, shape and direction still appears in training, just not together).
HELDOUT_COMBOS: frozenset[tuple[str, str, str]] = frozenset({
    ("red", "triangle", "up"),
    ("green", "circle", "left"),
    ("blue", "square", "down"),
    ("yellow", "triangle", "right"),
    ("magenta", "circle", "up"),
    ("cyan", "square", "left"),
    ("white", "triangle", "down"),
})


_TRIANGLE_SCALE = 1.3  # circumradius / radius, so a triangle covers an area similar to the circle


_SQUARE_SCALE = 0.886  # half side / radius: the square has the circle's area


def _reach(obj) -> float:
    """Circumradius of an object's shape in pixels (a square's corner is sqrt(2) half sides away)."""
    return obj.radius * {"triangle": _TRIANGLE_SCALE, "square": _SQUARE_SCALE * 2 ** 0.5}.get(obj.shape, 1.0)


def vocabulary() -> dict[str, list[str]]:
    """The words a caption may use, by role."""
    return {
        "color": list(COLORS), "shape": list(SHAPES), "direction": list(DIRECTIONS),
        "speed": list(SPEED_WORDS), "grammar": ["a", "moving", "and"],
    }


def _vocab_text() -> str:
    v = vocabulary()
    return "; ".join(f"{k}: {', '.join(words)}" for k, words in v.items())


@dataclass(frozen=True)
class ObjectSpec:
    """What a caption says about one object."""

    color: str
    shape: str
    direction: str
    speed: str = "normal"

    def caption(self) -> str:
        words = ["a", self.color, self.shape, "moving", self.direction]
        return " ".join(words + ([self.speed] if self.speed != "normal" else []))


def parse_caption(caption: str) -> list[ObjectSpec]:
    """Parse a caption into one :class:`ObjectSpec` per object; unknown words raise with the vocabulary."""
    if not isinstance(caption, str):
        raise TypeError(f"expected a caption string, got {type(caption).__name__}")
    words = caption.lower().replace(",", " ").split()
    known = {w for ws in vocabulary().values() for w in ws}
    unknown = [w for w in words if w not in known]
    if unknown:
        raise ValueError(f"unknown word(s) {unknown} in caption {caption!r}. Vocabulary: {_vocab_text()}")
    specs = []
    for chunk in re.split(r"\band\b", " ".join(words)):
        parts = chunk.split()
        speed = parts.pop() if parts and parts[-1] in SPEED_WORDS else "normal"
        ok = (len(parts) == 5 and parts[0] == "a" and parts[1] in COLORS and parts[2] in SHAPES
              and parts[3] == "moving" and parts[4] in DIRECTIONS)
        if not ok:
            raise ValueError(
                f"cannot parse {chunk.strip()!r} in caption {caption!r}: expected "
                "'a COLOR SHAPE moving DIRECTION [slowly|quickly]', objects joined by 'and'"
            )
        specs.append(ObjectSpec(parts[1], parts[2], parts[4], speed))
    if len(specs) > 2:
        raise ValueError(f"the Shapes world draws at most 2 objects, caption {caption!r} has {len(specs)}")
    return specs


def compose_caption(color: str, shape: str, direction: str, speed: str | None = None) -> str:
    """Build a one-object caption from its words (``speed`` None or ``"normal"`` means no speed word)."""
    caption = ObjectSpec(color, shape, direction, speed or "normal").caption()
    parse_caption(caption)  # validates every word
    return caption


@dataclass(frozen=True)
class ObjectTruth:
    """Ground truth of one object. Positions are the shape's centre in pixels, ``(x, y)``, per frame."""

    color: str
    rgb: tuple[float, float, float]
    shape: str
    direction: str
    speed: str
    radius: float
    positions: np.ndarray = field(repr=False)  # (F, 2)
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per frame


@dataclass(frozen=True)
class ClipTruth:
    """Ground truth of a clip."""

    objects: tuple[ObjectTruth, ...]
    background: tuple[float, float, float]
    num_frames: int
    size: int
    seed: int
    world: str = WORLD


class Clip(tuple):
    """``(video, caption, truth)``; also available as attributes. ``video`` is ``(F, 3, H, W)`` in [0, 1]."""

    def __new__(cls, video: torch.Tensor, caption: str, truth: ClipTruth):
        return super().__new__(cls, (video, caption, truth))

    video = property(lambda self: self[0])
    caption = property(lambda self: self[1])
    truth = property(lambda self: self[2])


def _coverage(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a shape centred at 0 with radius ``r``.

    ``dx`` is ``(F, 1, W)`` and ``dy`` ``(F, H, 1)`` (pixel centre minus shape centre); returns ``(F, H, W)``.
    Coverage = clip(0.5 - signed distance, 0, 1): a one-pixel ramp across the edge.
    """
    if shape == "square":  # separable: exact box-filter coverage of an axis-aligned square
        s = _SQUARE_SCALE * r + 0.5
        return np.clip(s - np.abs(dy), 0, 1) * np.clip(s - np.abs(dx), 0, 1)
    if shape == "circle":
        return np.clip(r + 0.5 - np.sqrt(dx * dx + dy * dy), 0, 1)
    # equilateral triangle pointing up; its inradius is half its circumradius
    rc = _TRIANGLE_SCALE * r
    d = np.maximum(np.maximum(dy, 0.8660254 * dx - 0.5 * dy), -0.8660254 * dx - 0.5 * dy) - rc / 2
    return np.clip(0.5 - d, 0, 1)


def _place(spec: ObjectSpec, rng: np.random.Generator, num_frames: int, size: int,
           geometry: Geometry = WORLDS["v1"]) -> ObjectTruth:
    radius = float(rng.uniform(*geometry.radius) * size)
    reach = radius * (_TRIANGLE_SCALE if spec.shape == "triangle" else 1.0) + 1.0  # keep the whole shape inside
    dist = geometry.speeds[spec.speed] * size
    ux, uy = DIRECTIONS[spec.direction]
    start = []
    for u in (ux, uy):  # along the motion axis leave room for the travel; across it, anywhere
        lo, hi = reach, size - reach
        if u > 0:
            hi -= dist
        elif u < 0:
            lo += dist
        start.append(rng.uniform(lo, hi))
    t = np.arange(num_frames, dtype=np.float32)[:, None] / max(num_frames - 1, 1)
    positions = np.asarray(start, np.float32)[None] + t * dist * np.asarray([ux, uy], np.float32)[None]
    step = dist / max(num_frames - 1, 1)
    return ObjectTruth(spec.color, COLORS[spec.color], spec.shape, spec.direction, spec.speed, radius,
                       positions.astype(np.float32), (ux * step, uy * step))


_PLACE_TRIES = 2000  # two-object placements drawn before giving up (the hardest v2 pair succeeds in ~2% of draws)


def _place_all(specs, rng: np.random.Generator, num_frames: int, size: int, geometry: Geometry):
    """Place every object; with ``geometry.apart``, redraw all of them until two objects stay apart."""
    for _ in range(_PLACE_TRIES):
        objects = tuple(_place(s, rng, num_frames, size, geometry) for s in specs)
        if geometry.apart is None or len(objects) < 2:
            return objects
        a, b = objects
        gap = np.linalg.norm(a.positions - b.positions, axis=1).min() - _reach(a) - _reach(b)
        if gap >= geometry.apart * size:
            return objects
    raise ValueError(f"could not keep the objects of {[s.caption() for s in specs]} apart in a {size}-pixel "
                     f"frame after {_PLACE_TRIES} draws: expected a larger size")


def render_objects(objects, background, num_frames: int, size: int) -> np.ndarray:
    """Composite the objects over the background: ``(F, 3, size, size)`` float32.

    Each object is rasterised only inside a square window around it (the same size in every frame, at a
    per-frame integer offset), which is ~10x less work than evaluating the whole frame.
    """
    pad = int(np.ceil(max((_TRIANGLE_SCALE * o.radius for o in objects), default=0))) + 2
    canvas = np.empty((num_frames, 3, size + 2 * pad, size + 2 * pad), np.float32)
    canvas[:] = np.asarray(background, np.float32)[None, :, None, None]
    window = np.arange(2 * pad, dtype=np.float32)
    for obj in objects:
        origin = np.floor(obj.positions).astype(np.int64) - pad  # top-left pixel of the window, per frame
        offset = origin.astype(np.float32) + 0.5 - obj.positions  # pixel centre minus shape centre at window[0]
        dx = window[None, None, :] + offset[:, 0, None, None]  # (F, 1, S)
        dy = window[None, :, None] + offset[:, 1, None, None]  # (F, S, 1)
        alpha = _coverage(obj.shape, dx, dy, obj.radius)[:, None]  # (F, 1, S, S)
        rgb = np.asarray(obj.rgb, np.float32)[:, None, None]
        for f, (x0, y0) in enumerate(origin + pad):  # canvas coordinates are shifted by the padding
            patch = canvas[f, :, y0:y0 + 2 * pad, x0:x0 + 2 * pad]
            patch += alpha[f] * (rgb - patch)  # "over" compositing
    return np.ascontiguousarray(canvas[:, :, pad:pad + size, pad:pad + size])


def make_clip(caption: str, seed: int, num_frames: int = 17, size: int = 64, world: str = WORLD) -> Clip:
    """Render the clip a caption describes; the same caption and seed always give the same clip.

    Returns :class:`Clip` ``(video, caption, truth)`` with ``video`` of shape ``(num_frames, 3, size, size)``
    in [0, 1]. ``num_frames`` defaults to 17 = 4*4 + 1, the 4k+1 form CogVideoX-style 3D VAEs need;
    ``world`` names the geometry (:data:`WORLDS`).
    """
    geometry = check_world(world)
    check_args(seed=seed, num_frames=num_frames)
    specs = parse_caption(caption)
    if not isinstance(size, (int, np.integer)) or size < 32:
        raise ValueError(f"size: expected >= 32 pixels (room for a quick object's whole path), got {size!r}")
    rng = np.random.default_rng(seed)
    level = float(rng.uniform(0.0, 0.18))
    tint = rng.uniform(-0.03, 0.03, size=3)
    background = tuple(float(v) for v in np.clip(level + tint, 0, 1))
    objects = _place_all(specs, rng, num_frames, size, geometry)
    video = render_objects(objects, background, num_frames, size)
    truth = ClipTruth(objects, background, int(num_frames), int(size), int(seed), world)
    return Clip(torch.from_numpy(video), " and ".join(s.caption() for s in specs), truth)


class ShapesWorld(torch.utils.data.Dataset):
    """A deterministic dataset of Shapes-world clips yielding ``(video, caption, truth)``.

    - ``split``: ``"train"`` and ``"val"`` never show :data:`HELDOUT_COMBOS`; ``"test"`` cycles through all
      84 colour x shape x direction combinations (held-out ones included) with seeds no other split uses;
      ``"heldout"`` shows only the held-out combinations.
    - ``two_objects``: the probability that a clip has a second object (joined with "and").
    - ``speeds``: whether captions use the speed words (else every object moves at normal speed).
    - ``world``: the geometry (:data:`WORLDS`).

    Clip ``i`` is always the same: it depends only on ``(split, i, seed, num_frames, size, world)``.
    """

    def __init__(self, split: str = "train", length: int = 1024, num_frames: int = 17, size: int = 64,
                 two_objects: float = 0.0, speeds: bool = True, seed: int = 0, world: str = WORLD):
        check_split(split)
        check_world(world)
        check_args(length=length, num_frames=num_frames, seed=seed, two_objects=two_objects)
        self.world = world
        self.split, self.length, self.num_frames, self.size = split, int(length), num_frames, size
        self.two_objects, self.speeds, self.seed = two_objects, speeds, seed
        if split == "heldout":
            self.combos = sorted(HELDOUT_COMBOS)
        elif split == "test":
            self.combos = list(ALL_COMBOS)
        else:
            self.combos = [c for c in ALL_COMBOS if c not in HELDOUT_COMBOS]

    def __len__(self) -> int:
        return self.length

    def caption(self, index: int) -> str:
        """The caption of clip ``index`` (cheap: nothing is rendered)."""
        return self._caption(np.random.default_rng(clip_seed(self.split, index, self.seed)), index)

    def _caption(self, rng: np.random.Generator, index: int) -> str:
        n = 2 if rng.random() < self.two_objects else 1
        picks = [index % len(self.combos)] if self.split in ("test", "heldout") else []
        picks += list(rng.integers(0, len(self.combos), size=n - len(picks)))
        while (n == 2 and WORLDS[self.world].distinct_colors
               and self.combos[picks[0]][0] == self.combos[picks[1]][0]):
            picks[1] = int(rng.integers(0, len(self.combos)))
        specs = []
        for k in picks[:n]:
            color, shape, direction = self.combos[k]
            speed = rng.choice(["slowly", "normal", "quickly"]) if self.speeds else "normal"
            specs.append(ObjectSpec(color, shape, direction, str(speed)))
        return " and ".join(s.caption() for s in specs)

    def __getitem__(self, index: int) -> Clip:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for a ShapesWorld of length {self.length}")
        index %= self.length
        seed = clip_seed(self.split, index, self.seed)
        caption = self._caption(np.random.default_rng(seed), index)
        return make_clip(caption, seed=seed, num_frames=self.num_frames, size=self.size, world=self.world)


def collate_clips(batch):
    """``DataLoader`` collate: -> ``(videos (B, F, 3, H, W), captions list, truths list)``."""
    videos, captions, truths = zip(*batch)
    return torch.stack(videos), list(captions), list(truths)


def twin_caption(caption: str, index: int) -> str:
    """The caption of clip ``index``'s twin: another shape, every other word kept, never a held-out combination.

    Circle and square swap (the pair the tiny model confuses); a triangle's twin is a circle or a square by the
    parity of ``index``. ``make_clip(twin_caption(c, i), seed)`` draws the same size, path and background as
    ``make_clip(c, seed)`` (the same random draws), so the two clips differ only where the shapes differ.
    """

    (spec,) = parse_caption(caption)  # one object per training clip
    first = {"circle": "square", "square": "circle"}.get(spec.shape, ("circle", "square")[index % 2])
    for shape in (first, *(s for s in SHAPES if s not in (first, spec.shape))):
        if (spec.color, shape, spec.direction) not in HELDOUT_COMBOS:
            return caption.replace(spec.shape, shape)
    raise AssertionError(f"every other shape of {caption!r} is held out")  # cannot happen: <= 1 per colour+direction


def objects_touch(truth: ClipTruth, margin: float = 1.3, pad_px: float = 1.0) -> bool:
    """True when the first two objects of a clip's ground truth come close enough to overlap in some frame: their
    centres (``positions``, pixels, ``(F, 2)``) get nearer than ``margin * (radius_0 + radius_1) + pad_px`` pixels.
    ``margin`` covers shapes that reach past their radius (a triangle's circumradius is 1.3 radii). Notebook 07
    counts the prompt adherence of such clips apart: one shape can hide the other."""
    if len(truth.objects) < 2:
        raise ValueError(f"expected a clip with two objects, got {len(truth.objects)}")
    a, b = truth.objects[:2]
    distance = np.linalg.norm(a.positions - b.positions, axis=1)
    return bool(distance.min() < margin * (a.radius + b.radius) + pad_px)
