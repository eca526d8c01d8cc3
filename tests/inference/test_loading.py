"""labkit.inference.loading: load_pipeline offline: a hub id missing from the local cache and a missing course
model are errors that say how to get them, bad specs are explained, real-size pipelines assemble on meta."""

import subprocess
import sys

import pytest
import torch

from labkit import inference, models
from labkit.inference import loading


def test_hub_id_without_local_copy_fails_with_instructions(tmp_path):
    code = ("import labkit.inference as i\n"
            "try:\n    i.load_pipeline('THUDM/CogVideoX-5b')\nexcept i.WeightsNotFound as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "hf download THUDM/CogVideoX-5b" in out.stdout and "real-size-random" in out.stdout


def test_a_missing_course_pipeline_says_how_to_restore_it(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "MODELS_DIR", tmp_path)  # an empty data/models
    with pytest.raises(inference.WeightsNotFound, match="git checkout -- data/models/tiny-t2v.*random:tiny-cogvideox"):
        inference.load_pipeline("tiny-t2v")


@pytest.mark.parametrize("kwargs,match", [
    ({"spec": "random:nonexistent"}, "tiny-cogvideox"),
    ({"spec": "no/such/folder/here"}, "no such folder"),
    ({"spec": "random:tiny-svd", "dtype": "int8"}, "expected dtype"),
    ({"spec": "random:tiny-svd", "device": "tpu"}, "expected"),
])
def test_bad_specs_are_explained(kwargs, match):
    with pytest.raises(ValueError, match=match):
        inference.load_pipeline(**kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_cuda_request_on_a_cpu_machine():
    with pytest.raises(ValueError, match="CUDA is not available"):
        inference.load_pipeline("random:tiny-svd", device="cuda")


def test_real_size_random_assembles_the_production_pipelines_on_meta():
    pipe = loading._real_size_random("cogvideox-5b", torch.device("meta"), torch.bfloat16)
    assert type(pipe).__name__ == "CogVideoXPipeline" and "RANDOM" in pipe.labkit_note
    n = sum(p.numel() for p in pipe.transformer.parameters())
    assert abs(n - 5.570e9) / 5.570e9 < 0.005 and next(pipe.transformer.parameters()).dtype == torch.bfloat16
    assert type(pipe.scheduler).__name__ == "CogVideoXDPMScheduler"


def test_load_or_fallback_uses_the_fallback_only_when_weights_are_missing(monkeypatch, capsys):
    def fake_load(spec, device="cpu", dtype="fp32"):
        if spec == "owner/missing":
            raise loading.WeightsNotFound("no weights for owner/missing in the local cache")
        return f"pipeline {spec} on {device} {dtype}"

    monkeypatch.setattr(loading, "load_pipeline", fake_load)
    assert loading.load_or_fallback("tiny-t2v", "random:tiny-cogvideox") == "pipeline tiny-t2v on cpu fp32"
    assert capsys.readouterr().out == ""
    got = loading.load_or_fallback("owner/missing", "random:tiny-cogvideox", "cpu", "bf16")
    assert got == "pipeline random:tiny-cogvideox on cpu bf16"
    assert "falling back to random:tiny-cogvideox" in capsys.readouterr().out
