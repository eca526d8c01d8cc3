"""labkit.models.swnet: SW-Net's shapes, per-frame features, safetensors round trip, labels, and the shipped
model's size, manifest entry and held-out accuracy."""

import json

import pytest
import torch

from labkit.data.shapes import ShapesWorld, make_clip
from labkit.models.swnet import DEFAULT_PATH, HEADS, SWNet, labels_of, load_swnet, save_swnet
from labkit.shipping.manifest import read_manifest, sha256_file

torch.set_num_threads(2)


def test_forward_shapes_any_frame_count_and_grey_input():
    torch.manual_seed(0)
    model = SWNet().eval()
    out = model(torch.rand(2, 17, 3, 64, 64))
    assert out["embedding"].shape == (2, 128)
    assert {k: tuple(v.shape) for k, v in out.items() if k in HEADS} == {k: (2, len(v)) for k, v in HEADS.items()}
    assert model.features(torch.rand(1, 9, 1, 48, 48)).shape == (1, 128)  # grey, other size: converted at the edge
    assert model.frame_features(torch.rand(17, 3, 64, 64)).shape == (17, 64)


def test_frame_features_look_at_each_frame_alone():
    model = SWNet().eval()
    clip = make_clip("a red circle moving left", seed=0).video
    alone = model.frame_features(clip[5:6])
    assert torch.allclose(model.frame_features(clip)[5], alone[0], atol=1e-5)


def test_embedding_sees_motion_order():
    torch.manual_seed(0)
    model = SWNet().eval()
    clip = make_clip("a red circle moving left", seed=0).video[None]
    assert not torch.allclose(model.features(clip), model.features(clip.flip(1)), atol=1e-5)


def test_safetensors_round_trip(tmp_path):
    torch.manual_seed(1)
    model = SWNet().eval()
    save_swnet(model, tmp_path / "net", {"accuracy_test": {"all": 0.5}})
    assert not list((tmp_path / "net").glob("*.bin")) and not list((tmp_path / "net").glob("*.pt"))
    loaded = load_swnet(tmp_path / "net")
    x = torch.rand(1, 17, 3, 64, 64)
    assert torch.equal(loaded.features(x), model.features(x))
    with pytest.raises(FileNotFoundError, match="labkit train features"):
        load_swnet(tmp_path / "missing")


def test_labels_of_one_object_truths_and_rejects_two():
    world = ShapesWorld("test", length=3)
    labels = labels_of([world[i].truth for i in range(3)])
    assert set(labels) == set(HEADS) and all(v.shape == (3,) for v in labels.values())
    assert HEADS["color"][int(labels["color"][0])] == world[0].truth.objects[0].color
    two = ShapesWorld("test", length=1, two_objects=1.0)[0].truth
    with pytest.raises(ValueError, match="one-object clips"):
        labels_of([two])


def test_shipped_swnet_is_small_recorded_and_accurate():
    weights = DEFAULT_PATH / "model.safetensors"
    assert weights.stat().st_size <= 5 * 1024 * 1024
    entry = read_manifest()["models/swnet/model.safetensors"]
    assert entry.sha256 == sha256_file(weights) and "labkit train features" in entry.command
    info = json.loads((DEFAULT_PATH / "config.json").read_text())
    assert set(info["accuracy_test"]) == {*HEADS, "all"}
    model = load_swnet()
    world = ShapesWorld("test", length=32, two_objects=0.0)
    clips = [world[i] for i in range(32)]
    out = model(torch.stack([c.video for c in clips]))
    labels = labels_of([c.truth for c in clips])
    colour_acc = float((out["color"].argmax(-1) == labels["color"]).float().mean())
    assert colour_acc >= 0.9  # colour is the easiest attribute; the recorded accuracies are in config.json
