"""labkit.widgets.metrics: the corruption lab's pure function and its widget, driven headlessly."""

import pytest
import torch

from labkit.metrics.bias import METRICS, clip_metrics
from labkit.widgets.metrics import corruption_lab, corruption_metrics

torch.set_num_threads(2)


torch.set_num_threads(2)


def test_corruption_metrics_measures_the_corrupted_clip_against_the_clean_one():
    clean, bad, caption, m = corruption_metrics("noise", 0.6, index=3)
    assert m["PSNR"] < 30 and m["SSIM"] < 0.9 and m["flicker"] > 0.02
    same_clean, same_bad, _, m0 = corruption_metrics("noise", 0.0, index=3)
    assert torch.equal(same_clean, clean) and m0["PSNR"] == float("inf") and m0["adherence"] == 1.0
    assert set(m) <= set(METRICS)


def test_clip_metrics_reversed_clip_fails_adherence_only():
    clean, bad, caption, m = corruption_metrics("reverse", 1.0, index=5)
    assert m["adherence"] == 0.0
    assert clip_metrics(clean, caption=caption)["adherence"] == 1.0
    assert m["flicker"] == pytest.approx(clip_metrics(clean)["flicker"], rel=1e-6)  # same frames, other order


def test_widget_updates_view_on_every_control():
    panel = corruption_lab(index=2)
    seen = {panel.view.value}
    for name, value in [("kind", "flicker"), ("strength", 0.9), ("index", 7)]:
        panel.controls[name].value = value
        assert panel.view.value not in seen, f"changing {name} did not change the view"
        seen.add(panel.view.value)
    assert "flicker at strength 0.90" in panel.view.value and "warping_error" in panel.view.value
