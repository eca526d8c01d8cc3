"""labkit.inference.runs: run-and-measure is deterministic and reports time per step and memory; exact CPU plans
reproduce the plain video; the planner's prediction is within 25% of the measured CPU peak."""

from types import SimpleNamespace

import pytest
import torch

from labkit import inference
from labkit.inference import runs


@pytest.fixture(scope="module")
def plain_run():
    torch.set_num_threads(2)
    pipe = inference.load_pipeline("random:tiny-cogvideox")
    return inference.measure(pipe, "a red circle moving left", "none", num_frames=9, height=32, width=32, steps=3)


def test_measure_reports_time_steps_memory_and_is_deterministic(plain_run):
    m = plain_run
    assert m.video.shape == (1, 9, 3, 32, 32) and len(m.step_s) == 2  # 3 steps: 2 between step callbacks
    assert m.wall_s >= sum(m.step_s)  # the steps happen inside the timed call
    assert m.memory_kind.startswith("CPU peak allocated")
    assert m.peak_bytes >= m.video.numel() * 4  # the float32 video itself is allocated inside the measured call
    again = inference.measure(inference.load_pipeline("random:tiny-cogvideox"), "a red circle moving left",
                              "none", num_frames=9, height=32, width=32, steps=3)
    assert inference.max_abs_diff(m.video, again.video) == 0.0
    assert again.peak_bytes == m.peak_bytes  # live tensor bytes: the same run allocates the same tensors
    other = inference.measure(inference.load_pipeline("random:tiny-cogvideox"), "a red circle moving left",
                              "none", num_frames=9, height=32, width=32, steps=3, seed=1)
    assert inference.max_abs_diff(m.video, other.video) > 1e-3


def test_cpu_plans_reproduce_the_plain_video(plain_run):
    # vae_tiling is left out on purpose: blending overlapping tiles is an approximation, not the same video
    for plan in ("vae_slicing",):
        m = inference.measure(inference.load_pipeline("random:tiny-cogvideox"), "a red circle moving left", plan,
                              num_frames=9, height=32, width=32, steps=3)
        assert inference.max_abs_diff(plain_run.video, m.video) < 1e-3, plan


def test_cpu_peak_does_not_depend_on_the_thread_count():
    """oneDNN's bfloat16 convolutions (the VAE decoder) hold a scratch buffer per intra-op thread, 6.75 MiB each
    here: profiled on the caller's threads, the bf16 peak grew from 35.5 MiB (1 thread) to 117 MiB (13 threads),
    predicted/measured 0.32. The profiled run uses one thread, so the peak is the model's, on any machine."""
    previous = torch.get_num_threads()
    peaks = []
    try:
        for threads in (4, 1):
            torch.set_num_threads(threads)
            pipe = inference.load_pipeline("random:tiny-cogvideox")
            m = inference.measure(pipe, "a red circle moving left", "bf16", num_frames=9, height=64, width=96, steps=2)
            assert torch.get_num_threads() == threads  # the measurement gives the setting back
            peaks.append(m.peak_bytes)
    finally:
        torch.set_num_threads(previous)
    assert peaks[0] == peaks[1]
    pred = inference.predict_for(pipe, "bf16", 9, 64, 96)["peak"]
    assert 0.75 <= pred / peaks[1] <= 1.25


@pytest.mark.slow  # 7 plans x 2 tiny generations (timed + profiled) at 64x96: ~1 min idle, 10 min under heavy load
@pytest.mark.parametrize("spec, plans, frames", [
    ("random:tiny-cogvideox", ["none", "vae_slicing", "bf16"], 9),
    ("random:tiny-svd", ["none", "forward_chunking", "decode_chunk", "bf16"], 6),
])
def test_planner_within_25_percent_of_measured_cpu_peak(spec, plans, frames):
    """The issue's bar on the CPU: prediction within 25% of the measured peak for every plan that ran. The
    measurement is the torch profiler's peak of live tensor bytes (deterministic); the planner's constants were
    counted and checked at 64x64, this runs at 64x96 with other frame counts."""
    torch.set_num_threads(1)
    rows, _ = inference.compare_plans(spec, plans, num_frames=frames, height=64, width=96, steps=2, warmup=False)
    assert [r["plan"] for r in rows] == plans
    for row in rows:
        assert 0.75 <= row["predicted/measured"] <= 1.25, row


def test_plan_comparison_spec_and_plans(monkeypatch):
    loaded = []

    def fake_load(spec, device="cpu", dtype="fp32"):
        if spec == "some/folder-missing":
            raise runs.WeightsNotFound(spec)
        loaded.append((spec, device))
        return SimpleNamespace(family="svd" if "svd" in spec else "cogvideox")

    monkeypatch.setattr(runs, "load_pipeline", fake_load)
    monkeypatch.setattr(runs, "pipeline_family", lambda pipe: pipe.family)
    spec, plans = runs.plan_comparison("THUDM/CogVideoX-5b", "cpu")  # a real-size model is not run on the CPU
    assert spec == "random:tiny-cogvideox" and plans == list(runs.COMPARED_PLANS["cogvideox"])
    spec, plans = runs.plan_comparison("tiny-svd", "cpu", smoke=True)
    assert spec == "tiny-svd" and plans == ["none", "forward_chunking", "decode_chunk"]
    assert runs.plan_comparison("some/folder-missing", "cpu")[0] == "random:tiny-cogvideox"
    assert all(device == "cpu" for _, device in loaded)
