"""labkit.models: one registry of every data/models folder; load() checks names and files first."""

import subprocess
import sys

import pytest

from labkit import NOTEBOOKS_DIR, models
from labkit.training.cli import TRAINERS


def test_registry_names_every_folder_and_only_those():
    on_disk = sorted(p.name for p in models.MODELS_DIR.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert sorted(models.REGISTRY) == on_disk


@pytest.mark.parametrize("name", sorted(models.REGISTRY))
def test_entry_names_a_real_notebook_and_trainer(name):
    entry = models.REGISTRY[name]
    assert (NOTEBOOKS_DIR / f"{entry.notebook}.ipynb").exists(), entry.notebook
    assert entry.train.split()[2] in TRAINERS, entry.train
    assert models.is_shipped(name)


KINDS = {"vae-2d": "AutoencoderKL", "vae-3d": "AutoencoderKLCogVideoX", "t2v-pipeline": "CogVideoXPipeline",
         "i2v-pipeline": "CogVideoXImageToVideoPipeline", "svd-pipeline": "StableVideoDiffusionPipeline",
         "image-unet": "ImageDenoiser", "motion-adapter": "VideoDenoiser", "orbit-unet": "tuple",
         "feature-network": "SWNet"}


@pytest.mark.parametrize("name", sorted(models.REGISTRY))
def test_every_registered_model_loads_as_its_kind(name):
    loaded = models.load(name)
    assert type(loaded).__name__ == KINDS[models.REGISTRY[name].kind]


def test_unknown_name_is_refused_before_any_heavy_import():
    code = ("import sys\nfrom labkit import models\ntry:\n    models.load('tiny-t2w')\nexcept ValueError as e:\n"
            "    print(e)\nprint('torch' in sys.modules, 'diffusers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert "unknown model 'tiny-t2w'" in lines[0] and "tiny-t2v" in lines[0]
    assert lines[-1] == "False False"


def test_a_missing_course_model_says_how_to_restore_it(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "MODELS_DIR", tmp_path)
    assert not models.is_shipped("tiny-t2v")
    with pytest.raises(FileNotFoundError, match="git checkout -- data/models/tiny-t2v"):
        models.load("tiny-t2v")
    with pytest.raises(FileNotFoundError, match="labkit train t2v"):
        models.provenance("tiny-t2v")


def test_files_that_do_not_match_the_manifest_are_refused(monkeypatch):
    monkeypatch.setattr(models, "verify", lambda prefix: {f"{prefix}config.json": "sha256 mismatch"})
    with pytest.raises(RuntimeError, match="sha256 mismatch"):
        models.load("vae-2d")
    assert type(models.load("vae-2d", verify_sha256=False)).__name__ == "AutoencoderKL"


def test_wrong_type_of_name_is_a_type_error():
    with pytest.raises(TypeError, match="expected a model name"):
        models.check_name(3)
