from labkit import profiling as profiling_labkit
from labkit.metrics import temporal as temporal_metrics
"""load_pipeline offline, memory plans and run-and-measure (labkit.inference)."""

import subprocess
import sys
import time

import pytest
import torch

from labkit import inference


def test_hub_id_without_local_copy_fails_fast_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache: nothing can be found locally
    code = ("import time, labkit.inference as i\nt = time.perf_counter()\n"
            "try:\n    i.load_pipeline('THUDM/CogVideoX-5b')\nexcept i.WeightsNotFound as e:\n"
            "    print(round(time.perf_counter() - t, 3)); print(e)\n")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"})
    total = time.perf_counter() - t0
    lines = out.stdout.splitlines()
    assert lines, out.stderr[-2000:]
    assert float(lines[0]) < 5.0 and total < 30
    text = out.stdout
    assert "huggingface-cli download THUDM/CogVideoX-5b" in text and "real-size-random" in text


def test_shipped_tiny_model_absent_says_how_to_get_it(monkeypatch, tmp_path):
    from labkit import models

    monkeypatch.setitem(models.SHIPPED, "tiny-t2v", {**models.SHIPPED["tiny-t2v"], "folder": tmp_path / "nope"})
    with pytest.raises(inference.WeightsNotFound, match="labkit train t2v"):
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


def test_plans_parse_compose_and_refuse_gpu_steps_on_cpu():
    assert inference.parse_plan("none") == []
    assert inference.parse_plan("model_cpu_offload+vae_tiling") == ["model_cpu_offload", "vae_tiling"]
    with pytest.raises(ValueError, match="unknown plan"):
        inference.parse_plan("vae_tilling")
    pipe = inference.load_pipeline("random:tiny-cogvideox")
    with pytest.raises(inference.PlanNotApplicable, match="needs a CUDA device"):
        inference.apply_plan(pipe, "model_cpu_offload", "cpu")
    with pytest.raises(inference.PlanNotApplicable, match="does not apply"):
        inference.apply_plan(pipe, "decode_chunk", "cpu")
    m = inference.measure(pipe, "a red circle", "sequential_cpu_offload", "cpu")
    assert m.skipped and m.video is None


@pytest.fixture(scope="module")
def plain_run():
    torch.set_num_threads(2)
    pipe = inference.load_pipeline("random:tiny-cogvideox")
    return inference.measure(pipe, "a red circle moving left", "none", num_frames=9, height=32, width=32, steps=3)


def test_measure_reports_time_steps_memory_and_is_deterministic(plain_run):
    m = plain_run
    assert m.video.shape == (1, 9, 3, 32, 32) and m.wall_s > 0 and len(m.step_s) == 2
    assert m.memory_kind.startswith("CPU peak allocated") and m.peak_bytes > 0 and m.rss_bytes > 0
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


def test_peak_allocated_sees_exactly_the_live_tensors():
    def work():
        a = torch.ones(8 * 2**20 // 4)  # 8 MiB
        b = torch.ones(16 * 2**20 // 4)  # 16 MiB: peak 24 MiB while both live
        del a, b
        c = torch.ones(4 * 2**20 // 4)  # 4 MiB after the peak: does not raise it
        return c

    assert inference.peak_allocated_cpu(work) == 24 * 2**20


def test_peak_rss_sees_an_allocation():
    with profiling_labkit.PeakRSS() as rss:
        x = torch.ones(64 * 2**20 // 4)  # 64 MiB
        time.sleep(0.05)
        del x
    assert 48 * 2**20 < rss.peak - rss.baseline < 160 * 2**20


def test_plan_panel_runs_a_plan_and_explains_a_skip():
    from labkit.widgets.inference import plan_panel

    panel = plan_panel(num_frames=9, height=32, width=32, steps=2)
    dropdown = panel.children[0].children[0]
    dropdown.value = "model_cpu_offload"
    panel.run()
    assert "skipped" in panel.children[1].value and "CUDA" in panel.children[1].value
    dropdown.value = "none"
    panel.run()
    assert "s/step" in panel.children[1].value and "planner" in panel.children[1].value


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


def test_flow_motion_is_proportional_to_true_shapes_world_speed():
    import numpy as np

    from labkit.data.shapes import make_clip

    ratios, flows = [], []
    for caption in ("a red circle moving right slowly", "a blue square moving up",
                    "a red circle moving right quickly"):
        video, _, truth = make_clip(caption, seed=0, num_frames=9, size=64)
        speed = np.linalg.norm(np.diff(truth.objects[0].positions, axis=0), axis=1).mean()
        flows.append(temporal_metrics.mean_flow_magnitude(video))
        ratios.append(flows[-1] / speed)
    assert flows == sorted(flows) and flows[0] > 0
    assert max(ratios) / min(ratios) < 1.3  # a pixel-averaged flow: proportional to speed, same object size
    with pytest.raises(ValueError, match="at least 2 frames"):
        temporal_metrics.mean_flow_magnitude(video[:1])


def test_real_size_random_assembles_the_production_pipelines_on_meta():
    pipe = inference._real_size_random("cogvideox-5b", torch.device("meta"), torch.bfloat16)
    assert type(pipe).__name__ == "CogVideoXPipeline" and "RANDOM" in pipe.labkit_note
    n = sum(p.numel() for p in pipe.transformer.parameters())
    assert abs(n - 5.570e9) / 5.570e9 < 0.005 and next(pipe.transformer.parameters()).dtype == torch.bfloat16
    assert type(pipe.scheduler).__name__ == "CogVideoXDPMScheduler"
