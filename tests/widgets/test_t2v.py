"""labkit.widgets.t2v: the prompt panel, driven headlessly on a tiny random-weight pipeline."""

import pytest

from labkit.models import cogvideox as t2v
from labkit.models.vae import tiny_vae_3d
from labkit.widgets.t2v import render, t2v_panel


@pytest.fixture(scope="module")
def pipe():
    return t2v.build_pipeline("t2v", vae=tiny_vae_3d(latent_channels=4, block_out_channels=(8, 8, 8, 8)),
                              width=32, layers=1, text_width=32)


def test_panel_regenerates_when_a_control_changes(pipe):
    panel = t2v_panel(pipe, note="random weights", steps=1)
    assert "a red circle moving right" in panel.view.value and "random weights" in panel.view.value
    first = panel.view.value
    panel.controls["color"].value = "blue"
    panel.controls["speed"].value = "quickly"
    assert "a blue circle moving right quickly" in panel.view.value
    assert "<video" in panel.view.value or "<img" in panel.view.value
    assert panel.view.value != first
    assert "measured adherence" in panel.view.value and "color:" in panel.view.value


def test_render_is_deterministic_for_the_same_values(pipe):
    values = {"color": "green", "shape": "square", "direction": "up", "speed": "slowly", "guidance": 3.0,
              "steps": 1, "seed": 4}
    html = render(pipe, values)
    assert html == render(pipe, values)
    assert html != render(pipe, {**values, "seed": 5})
