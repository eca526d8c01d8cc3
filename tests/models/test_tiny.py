from labkit.models import text

"""Tiny pipelines from real diffusers/transformers classes (labkit.models)."""

import pytest
import torch

from labkit import models
from labkit.models import tiny


def _params(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_tokenizer_pads_truncates_and_knows_the_vocabulary():
    tok = text.shapes_tokenizer(max_length=8)
    ids = tok("a red circle moving left", padding="max_length", max_length=8, truncation=True)["input_ids"]
    assert len(ids) == 8 and ids[5] == tok.eos_token_id and ids[6:] == [tok.pad_token_id] * 2
    assert tok.unk_token_id not in ids[:5]
    assert tok("a zebra")["input_ids"][1] == tok.unk_token_id


def test_cogvideox_components_are_seeded_per_component():
    a, b, c = (tiny.tiny_cogvideox_components(seed) for seed in (0, 0, 1))
    for name in ("transformer", "vae", "text_encoder"):
        assert torch.equal(_params(a[name]), _params(b[name])), name
        assert not torch.equal(_params(a[name]), _params(c[name])), name
    # dependent size: the transformer reads the T5 encoder's width
    assert a["transformer"].config.text_embed_dim == a["text_encoder"].config.d_model


def test_svd_components_derive_their_sizes():
    comps = tiny.tiny_svd_components(0)
    unet = comps["unet"].config
    assert unet.in_channels == 2 * comps["vae"].config.latent_channels
    assert unet.projection_class_embeddings_input_dim == 3 * unet.addition_time_embed_dim
    assert unet.cross_attention_dim == comps["image_encoder"].config.projection_dim


def test_tiny_cogvideox_runs_and_matches_the_diffusers_output_convention():
    pipe = tiny.tiny_cogvideox_pipeline(0)
    assert "random weights" in pipe.labkit_note
    out = pipe("a red circle moving left", num_frames=9, height=32, width=32, num_inference_steps=2,
               generator=torch.Generator().manual_seed(0), output_type="pt", max_sequence_length=16).frames
    assert out.shape == (1, 9, 3, 32, 32)  # (B, F, C, H, W)
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def test_shipped_registry_points_into_data():
    from labkit import DATA_DIR

    for name, info in models.SHIPPED.items():
        assert DATA_DIR in info["folder"].parents, name
        assert info["train"].startswith("labkit train")


def test_ship_checked_ships_only_at_the_bars_or_when_told_and_records_the_verdict(tmp_path, capsys):
    import json

    from labkit.shipping.ship import ship_checked

    run = tmp_path / "run"
    (run / "training_state").mkdir(parents=True)
    (run / "weights.safetensors").write_bytes(b"w")
    (run / "training_state" / "raw.safetensors").write_bytes(b"r")
    args = dict(command="labkit train x", seed=0, seconds=1.0, ignore=("training_state",))
    assert ship_checked(run, tmp_path / "below", "shape 40% < 90%", False, summary={}, **args) == 1
    assert "not shipping" in capsys.readouterr().err and not (tmp_path / "below").exists()
    assert ship_checked(run, tmp_path / "below", "shape 40% < 90%", True, summary={}, **args) == 0
    prov = json.loads((tmp_path / "below" / "PROVENANCE.json").read_text())
    assert (prov["bars_met"], prov["bars_problem"]) == (False, "shape 40% < 90%")
    assert "BELOW the bars" in capsys.readouterr().err
    assert ship_checked(run, tmp_path / "met", "", False, summary={}, **args) == 0
    assert json.loads((tmp_path / "met" / "PROVENANCE.json").read_text())["bars_met"] is True
    assert (tmp_path / "met" / "weights.safetensors").exists() and not (tmp_path / "met" / "training_state").exists()
    with pytest.raises(FileExistsError):  # never overwrites a shipped folder
        ship_checked(run, tmp_path / "met", "", False, summary={}, **args)
