"""labkit.widgets.inference: the memory-plan panel runs a plan and explains a skip, driven headlessly."""

from labkit.widgets.inference import plan_panel


def test_plan_panel_runs_a_plan_and_explains_a_skip():
    panel = plan_panel(num_frames=9, height=32, width=32, steps=2)
    dropdown = panel.children[0].children[0]
    dropdown.value = "model_cpu_offload"
    panel.run()
    assert "skipped" in panel.children[1].value and "CUDA" in panel.children[1].value
    dropdown.value = "none"
    panel.run()
    assert "s/step" in panel.children[1].value and "planner" in panel.children[1].value
