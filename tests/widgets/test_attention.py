"""Tests for labkit.widgets.attention: the cost calculator and the attention-map explorer, driven headlessly."""

import pytest
import torch

from labkit import attention as A
from labkit.widgets import attention as W


def test_cost_html_numbers_come_from_the_cost_model():
    text = W.cost_html(13, 30, 45, 48, 64)
    joint = A.attention_cost("joint", 13, 30, 45, 48, 64)
    assert f"{joint.gflops:,.2f}" in text
    assert "17,550 tokens" in text and "27.5 GiB" in text


def test_cost_panel_presets_and_sliders():
    panel = W.cost_panel()
    assert "17,550 tokens" in panel.view.value
    panel.controls["preset"].value = "SVD 576x1024x25 (first level)"
    assert panel.controls["frames"].value == 25 and "25 x 72 x 128" in panel.view.value
    panel.controls["frames"].value = 50
    assert "50 x 72 x 128" in panel.view.value
    with pytest.raises(ValueError, match="preset"):
        W.cost_panel("Sora")


def test_attention_map_panel():
    maps = torch.rand(1, 2, 4, 4, 3, 3).softmax(dim=3)
    clip = torch.rand(4, 3, 6, 6)
    html = W.query_attention_html(maps, clip, 1, 2, 0)
    assert html.startswith('<img src="data:image/png;base64,')
    panel = W.attention_map_panel(maps, clip)
    before = panel.view.value
    panel.controls["frame"].value = 3
    assert panel.view.value != before
    with pytest.raises(ValueError, match="temporal maps"):
        W.attention_map_panel(maps[0], clip)
