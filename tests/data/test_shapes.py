"""labkit.data.shapes: captions render deterministically, the ground truth matches the pixels, bad captions name
the vocabulary, twin captions change only the shape."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import data
from labkit.data import splits as splits_data
from labkit.data.shapes import make_clip, objects_touch


def _centroid(frame: torch.Tensor, rgb) -> tuple[float, float]:
    """Coverage-weighted centre of the pixels whose colour moved towards ``rgb``."""
    target = torch.tensor(rgb)[:, None, None]
    bg = frame[:, :1, :1]
    alpha = ((frame - bg) * (target - bg)).sum(0) / ((target - bg) ** 2).sum(0)
    alpha = alpha.clamp(0, 1)
    ys, xs = torch.meshgrid(torch.arange(frame.shape[1]) + 0.5, torch.arange(frame.shape[2]) + 0.5, indexing="ij")
    return float((alpha * xs).sum() / alpha.sum()), float((alpha * ys).sum() / alpha.sum())


def test_same_caption_and_seed_give_the_same_clip():
    a = data.make_clip("a blue square moving up quickly", seed=3)
    b = data.make_clip("a blue square moving up quickly", seed=3)
    c = data.make_clip("a blue square moving up quickly", seed=4)
    assert torch.equal(a.video, b.video)
    assert not torch.equal(a.video, c.video)


def test_default_clip_shape_is_4k_plus_1():
    clip = data.make_clip("a red circle moving left", seed=0)
    assert clip.video.shape == (17, 3, 64, 64) and (17 - 1) % 4 == 0
    assert 0.0 <= clip.video.min() and clip.video.max() <= 1.0


@pytest.mark.parametrize("color,shape,direction", data.ALL_COMBOS[::5])
def test_ground_truth_matches_the_rendered_pixels(color, shape, direction):
    clip = data.make_clip(f"a {color} {shape} moving {direction}", seed=11)
    obj = clip.truth.objects[0]
    for f in (0, 8, 16):
        cx, cy = _centroid(clip.video[f], obj.rgb)
        ex, ey = obj.positions[f]
        assert abs(cx - ex) < 0.35 and abs(cy - ey) < 0.35, (f, (cx, cy), (ex, ey))
    ux, uy = data.DIRECTIONS[direction]
    disp = obj.positions[-1] - obj.positions[0]
    assert np.sign(disp[0]) == ux and np.sign(disp[1]) == uy


def test_speed_words_change_the_distance():
    dist = {}
    for speed in ("slowly", "normal", "quickly"):
        caption = data.compose_caption("green", "circle", "right", speed)
        obj = data.make_clip(caption, seed=5).truth.objects[0]
        dist[speed] = obj.positions[-1, 0] - obj.positions[0, 0]
    assert dist["slowly"] < dist["normal"] < dist["quickly"]
    assert dist["quickly"] == pytest.approx(data.SPEEDS["quickly"] * 64, rel=1e-5)


def test_edges_are_anti_aliased():
    clip = data.make_clip("a white circle moving down", seed=2)
    bg = clip.video[0, 0, 0, 0]
    values = clip.video[0, 0].flatten()
    between = ((values > bg + 0.05) & (values < 0.95)).sum()
    assert between >= 8  # a one-pixel ramp around the edge, not a hard 0/1 mask


def test_objects_stay_inside_the_frame():
    for i in range(40):
        clip = data.ShapesWorld("train", length=40, two_objects=0.5)[i]
        for obj in clip.truth.objects:
            assert obj.positions.min() >= obj.radius and obj.positions.max() <= 64 - obj.radius


def test_two_object_captions():
    clip = data.make_clip("a red circle moving left and a white square moving up slowly", seed=0)
    assert [o.color for o in clip.truth.objects] == ["red", "white"]
    assert clip.truth.objects[1].speed == "slowly"


@pytest.mark.parametrize(
    "caption, message",
    [
        ("a purple circle moving left", "Vocabulary: color: red"),
        ("a red hexagon moving left", "unknown word(s) ['hexagon']"),
        ("red circle moving left", "expected 'a COLOR SHAPE moving DIRECTION"),
        ("a red circle moving", "expected 'a COLOR SHAPE moving DIRECTION"),
        ("a red circle moving left and a red circle moving up and a red circle moving down", "at most 2"),
    ],
)
def test_bad_captions_raise_with_the_vocabulary(caption, message):
    with pytest.raises(ValueError) as err:
        data.make_clip(caption, seed=0)
    assert message in str(err.value)


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="^num_frames: expected an integer >= 1"):
        data.make_clip("a red circle moving left", seed=0, num_frames=0)
    with pytest.raises(ValueError, match="^size: expected >= 32"):
        data.make_clip("a red circle moving left", seed=0, size=8)


def test_dataset_items_and_collate():
    ds = data.ShapesWorld("val", length=4, num_frames=9, size=32)
    video, caption, truth = ds[1]
    assert video.shape == (9, 3, 32, 32) and caption == ds.caption(1) and truth.seed == splits_data.clip_seed("val", 1)
    assert torch.equal(ds[-1].video, ds[3].video)
    with pytest.raises(IndexError):
        ds[4]
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=data.collate_clips)
    videos, captions, truths = next(iter(loader))
    assert videos.shape == (2, 9, 3, 32, 32) and len(captions) == len(truths) == 2


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(data.ALL_COMBOS), st.sampled_from(["slowly", "normal", "quickly"]),
       st.integers(0, 2**31), st.sampled_from([5, 9, 17, 33]), st.sampled_from([32, 48, 64]))
def test_any_caption_renders_in_range(combo, speed, seed, num_frames, size):
    clip = data.make_clip(data.compose_caption(*combo, speed), seed=seed, num_frames=num_frames, size=size)
    assert clip.video.shape == (num_frames, 3, size, size)
    assert torch.isfinite(clip.video).all() and clip.video.min() >= 0 and clip.video.max() <= 1
    assert data.parse_caption(clip.caption) == data.parse_caption(data.compose_caption(*combo, speed))


def test_twin_captions_change_only_the_shape_and_avoid_held_out_combinations():
    assert data.twin_caption("a red circle moving up slowly", 0) == "a red square moving up slowly"
    assert data.twin_caption("a red square moving left", 5) == "a red circle moving left"
    assert {data.twin_caption("a red triangle moving left", i) for i in (0, 1)} == {
        "a red circle moving left", "a red square moving left"}
    # ("cyan", "square", "left") is held out: a cyan circle moving left gets a triangle twin instead
    assert data.twin_caption("a cyan circle moving left", 0) == "a cyan triangle moving left"
    world = data.ShapesWorld("train", length=300)
    for i in range(300):
        twin = data.twin_caption(world.caption(i), i)
        (a,), (b,) = data.parse_caption(world.caption(i)), data.parse_caption(twin)
        assert a.shape != b.shape and (a.color, a.direction, a.speed) == (b.color, b.direction, b.speed)
        assert (b.color, b.shape, b.direction) not in data.HELDOUT_COMBOS


def test_objects_touch_from_the_ground_truth():
    truth = make_clip("a red circle moving right and a blue square moving left", seed=0).truth
    a, b = truth.objects
    still = np.zeros((truth.num_frames, 2), np.float32) + 20
    reach = 1.3 * (a.radius + b.radius) + 1.0  # the threshold, in pixels

    def placed(gap):
        return replace(truth, objects=(replace(a, positions=still), replace(b, positions=still + [gap, 0])))

    assert objects_touch(placed(reach - 0.1)) and not objects_touch(placed(reach + 0.1))
    with pytest.raises(ValueError, match="two objects"):
        objects_touch(make_clip("a red circle moving right", seed=0).truth)


@pytest.mark.parametrize("world", sorted(data.shapes.WORLDS))
def test_every_world_keeps_objects_in_frame_and_apart(world):
    """Each geometry: every object stays inside the frame in every frame (its half extent along each axis: the
    radius, a triangle's scaled one), and where the world asks for it, two objects' circumscribed circles keep
    ``apart`` of the frame between them and the two carry different colours."""
    geometry = data.shapes.WORLDS[world]
    ds = data.ShapesWorld("test", length=120, two_objects=1.0, world=world)
    gaps = []
    for i in range(len(ds)):
        clip = ds[i]
        a, b = clip.truth.objects
        for obj in (a, b):
            reach = obj.radius * (data.shapes._TRIANGLE_SCALE if obj.shape == "triangle" else 1.0)
            assert (obj.positions - reach >= -1.0).all() and (obj.positions + reach <= clip.truth.size + 1.0).all()
            lo, hi = geometry.radius
            assert lo * clip.truth.size <= obj.radius <= hi * clip.truth.size
        gaps.append(np.linalg.norm(a.positions - b.positions, axis=1).min() - data.shapes._reach(a)
                    - data.shapes._reach(b))
        if geometry.distinct_colors:
            assert a.color != b.color, clip.caption
    if geometry.apart is not None:
        assert min(gaps) >= geometry.apart * 64 - 1e-6
    else:  # v1 lets objects overlap: the check above would fail on it
        assert min(gaps) < 0


def test_world_speeds_are_the_distance_travelled():
    for world, geometry in data.shapes.WORLDS.items():
        for speed, dist in geometry.speeds.items():
            word = "" if speed == "normal" else f" {speed}"
            clip = make_clip(f"a red circle moving right{word}", seed=1, world=world)
            pos = clip.truth.objects[0].positions
            assert pos[-1, 0] - pos[0, 0] == pytest.approx(dist * 64, rel=1e-3), (world, speed)


def test_unknown_world_names_the_worlds():
    with pytest.raises(ValueError, match="v2-large"):
        make_clip("a red circle moving right", seed=0, world="v3")


@pytest.mark.parametrize("call,name", [
    (lambda: make_clip("a red circle moving right", seed=-1), "seed"),
    (lambda: make_clip("a red circle moving right", seed=0, num_frames=0), "num_frames"),
    (lambda: data.ShapesWorld("train", length=-1), "length"),
    (lambda: data.ShapesWorld("train", two_objects=1.5), "two_objects"),
    (lambda: data.ShapesWorld("train", world="v3"), "world"),
])
def test_bad_arguments_are_refused_by_name(call, name):
    with pytest.raises((ValueError, TypeError), match=f"^{name}:"):
        call()
