"""labkit.models.cards: every shipped pipeline folder has a card whose diffusers call runs when copied; cards are
generated (never stale), recorded in data/MANIFEST, written by `labkit card` and by `labkit ship`."""

import json
import re
import shutil

import numpy as np
import pytest

import labkit
from labkit import PROJECT_ROOT, models
from labkit.data.shapes import vocabulary
from labkit.models import cards
from labkit.shipping import manifest, records, ship
from labkit.shipping.records import write_run_record

#: The video each card's call returns, (F, H, W, 3): the sizes the model was trained at.
SHAPES = {"tiny-t2v": (17, 64, 64, 3), "tiny-i2v": (17, 64, 64, 3), "tiny-svd": (8, 32, 32, 3)}

PIPELINES = [n for n in models.REGISTRY if (models.folder(n) / "model_index.json").exists()]


def card_code(text: str) -> str:
    """The card's one python block."""
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1, f"expected one python block, found {len(blocks)}"
    return blocks[0]


def test_every_shipped_pipeline_folder_is_covered():
    assert sorted(PIPELINES) == sorted(SHAPES)


def run_card_code(name: str, code: str, steps: int) -> np.ndarray:
    """Run a card's python block from the repository root (its path is relative to it) with ``steps`` sampling
    steps instead of the card's; returns its ``video``."""
    code, replaced = re.subn(r"num_inference_steps=\d+", f"num_inference_steps={steps}", code)
    assert replaced == 1, "the call's num_inference_steps was not found: the test would run the full sampler"
    namespace = {}
    exec(compile(code, f"{name}/README.md", "exec"), namespace)
    return namespace["video"]


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_cards_diffusers_call_runs_when_copied(name, monkeypatch, one_torch_thread):
    monkeypatch.chdir(PROJECT_ROOT)
    video = run_card_code(name, card_code((models.folder(name) / cards.CARD).read_text()), steps=2)
    assert isinstance(video, np.ndarray) and video.shape == SHAPES[name]
    assert np.isfinite(video).all() and 0 <= video.min() and video.max() <= 1


#: The sizes each pipeline's own defaults get wrong for the tiny model (diffusers' signatures: SVD 576x1024,
#: CogVideoX image-to-video 49 frames).
REQUIRED_SIZES = {"tiny-t2v": [], "tiny-i2v": ["num_frames"], "tiny-svd": ["height", "width"]}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_sizes_a_card_says_default_give_the_same_video_when_left_out(name, monkeypatch, one_torch_thread):
    """The card writes every size out and says which ones the pipeline would default right: leaving those out of
    the call (in diffusers itself) gives the same video shape."""
    text = (models.folder(name) / cards.CARD).read_text()
    required = re.search(r"((?:`\w+`(?:, | and )?)+) (?:is|are) required: the pipeline's default", text)
    assert (re.findall(r"`(\w+)`", required.group(1)) if required else []) == REQUIRED_SIZES[name]
    defaulted = [n for n in cards.SIZE_ARGUMENTS if n not in REQUIRED_SIZES[name]]
    code = card_code(text)
    for size in defaulted:
        code, removed = re.subn(rf"\b{size}=\d+, ", "", code)
        assert removed == 1, f"the card's call does not write out {size}"
    monkeypatch.chdir(PROJECT_ROOT)
    assert run_card_code(name, code, steps=1).shape == SHAPES[name]


def test_plain_diffusers_fails_deep_inside_at_its_default_text_length_as_the_card_says(one_torch_thread):
    """The card's note on ``max_sequence_length``: without it, diffusers pads to 226 tokens and the tiny
    transformer (16 text tokens) fails with a tensor size mismatch; ``labkit.models.load`` names the fix."""
    from diffusers import DiffusionPipeline

    assert "max_sequence_length=16` is required" in (models.folder("tiny-t2v") / cards.CARD).read_text()
    call = dict(prompt="a red square moving left", num_inference_steps=1, output_type="latent")
    with pytest.raises(RuntimeError, match=r"size of tensor a \(306\) must match the size of tensor b \(96\)"):
        DiffusionPipeline.from_pretrained(models.folder("tiny-t2v"))(**call)
    with pytest.raises(ValueError, match="pass max_sequence_length=16 to the pipeline call"):
        models.load("tiny-t2v")(**call)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shipped_cards_are_what_the_generator_writes_and_are_in_the_manifest(name):
    folder = models.folder(name)
    assert (folder / cards.CARD).exists(), f"no card: run `labkit card data/models/{name}`"
    text = (folder / cards.CARD).read_text()
    assert text == cards.card_text(folder), f"stale card: run `labkit card data/models/{name}`"
    assert text.startswith("---\nlibrary_name: diffusers\npipeline_tag: ")
    entry = manifest.read_manifest()[f"models/{name}/{cards.CARD}"]
    assert entry.command == f"labkit card data/models/{name}"
    assert entry.sha256 == manifest.sha256_file(folder / cards.CARD)


def test_a_text_model_card_lists_the_vocabulary_and_the_provenance():
    text = (models.folder("tiny-t2v") / cards.CARD).read_text()
    prov = models.provenance("tiny-t2v")
    for words in vocabulary().values():
        assert ", ".join(words) in text
    assert 'object  := "a" COLOR SHAPE "moving" DIRECTION [SPEED]' in text
    assert prov["command"] in text and f"{prov['seconds']} s" in text and prov["hardware"] in text
    assert "max_sequence_length=16" in text and f"| eval / bar | {prov['eval']['bar']:.4g} |" in text


def test_a_folder_without_provenance_is_refused_clearly(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "CogVideoXPipeline"}))
    with pytest.raises(FileNotFoundError, match="has no PROVENANCE.json"):
        cards.write_card(tmp_path)
    assert not (tmp_path / cards.CARD).exists()
    (tmp_path / "model_index.json").unlink()
    with pytest.raises(ValueError, match="expected a diffusers pipeline folder"):
        cards.write_card(tmp_path)


@pytest.fixture()
def fake_data(tmp_path, monkeypatch):
    """A data/ folder of its own, so shipping and cards write a MANIFEST there and not in the project's data/."""
    data = tmp_path / "data"
    (data / "models").mkdir(parents=True)
    for module in (labkit, manifest, records, ship, cards):  # each reads DATA_DIR from its own namespace
        monkeypatch.setattr(module, "DATA_DIR", data)
    return data


def test_labkit_ship_writes_a_pipelines_card_and_labkit_card_rewrites_it(tmp_path, fake_data, capsys):
    from labkit.course.cli import main

    run = tmp_path / "run"
    shutil.copytree(models.folder("tiny-t2v"), run, ignore=shutil.ignore_patterns("PROVENANCE.json", cards.CARD))
    write_run_record(run, "labkit train t2v --steps 1", 0, 1.0)
    dest = fake_data / "models" / "t2v-copy"
    assert main(["ship", str(run), str(dest)]) == 0
    card = dest / cards.CARD
    entry = manifest.read_manifest(fake_data / "MANIFEST")[f"models/t2v-copy/{cards.CARD}"]
    assert entry.command.startswith("labkit card ") and entry.sha256 == manifest.sha256_file(card)
    assert "labkit train t2v --steps 1" in card.read_text()
    card.write_text("edited by hand")
    assert main(["card", str(dest)]) == 0 and card.read_text() == cards.card_text(dest)
    assert manifest.verify("models/t2v-copy/", fake_data) == {p: "ok" for p in manifest.read_manifest(
        fake_data / "MANIFEST")}
    assert main(["card", str(tmp_path)]) == 2  # a refusal: exit 2, one line naming what was expected
    assert "expected a pipeline folder with model_index.json" in capsys.readouterr().err


def test_labkit_ship_replace_rewrites_the_card_with_the_reason(tmp_path, fake_data):
    from labkit.course.cli import main

    dest = fake_data / "models" / "t2v-copy"
    for command, replace in (("labkit train t2v --steps 1", []), ("labkit train t2v --steps 2", ["--replace", "v2"])):
        run = tmp_path / command[-1]
        shutil.copytree(models.folder("tiny-t2v"), run, ignore=shutil.ignore_patterns("PROVENANCE.json", cards.CARD))
        write_run_record(run, command, 0, 1.0)
        assert main(["ship", str(run), str(dest), *replace]) == 0
    text = (dest / cards.CARD).read_text()
    assert "labkit train t2v --steps 2" in text and "--steps 1" not in text
    assert "It replaced an earlier version of this folder: v2." in text
    entries = manifest.read_manifest(fake_data / "MANIFEST")
    assert entries[f"models/t2v-copy/{cards.CARD}"].sha256 == manifest.sha256_file(dest / cards.CARD)
    assert set(manifest.verify("models/t2v-copy/", fake_data).values()) == {"ok"}
    assert len(entries) == len([p for p in dest.rglob("*") if p.is_file()]), "a stale MANIFEST line was left"


def test_labkit_ship_of_a_pipeline_without_a_card_kind_stays_shipped_and_says_so(tmp_path, fake_data, capsys):
    from labkit.course.cli import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "model_index.json").write_text(json.dumps({"_class_name": "AnimateDiffPipeline"}))
    write_run_record(run, "labkit train x", 0, 1.0)
    dest = fake_data / "models" / "x"
    assert main(["ship", str(run), str(dest)]) == 1
    assert "shipped" in (err := capsys.readouterr().err) and "no model card for the pipeline class AnimateDiffPipeline" in err
    assert (dest / "PROVENANCE.json").exists() and not (dest / cards.CARD).exists()
