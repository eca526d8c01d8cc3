"""labkit.inference.plans: memory plans parse and compose; GPU-only and inapplicable steps are refused on the CPU."""

import pytest

from labkit import inference


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
