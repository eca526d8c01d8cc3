"""labkit.widgets.multiview: the reprojection panel and the orbit generator panel, driven headlessly."""

import pytest

from labkit.data.orbit import KINDS, OrbitObject, render_orbit
from labkit.models.orbit_unet import OrbitConfig, new_unet
from labkit.widgets.multiview import generator_panel, reprojection_panel


@pytest.fixture(scope="module")
def unet():
    return new_unet(OrbitConfig(batch=1, num_views=3, size=16), seed=0).eval()


def test_generator_widget_headless(unet):
    panel = generator_panel(unet, OrbitObject("cube", 0.9, 10.0, 0.2, 0.8, 0.9), note="random weights", steps=1,
                            num_views=3, size=16)
    assert "random weights" in panel.view.value and "generated 120°" in panel.view.value
    panel.controls["azimuth"].value = 10.0
    assert "generated 130°" in panel.view.value and "PSNR" in panel.view.value


def test_reprojection_widget_headless():
    orbit = render_orbit(OrbitObject(KINDS[0], 0.9, 30.0, 0.1, 0.8, 0.9), 12, 20.0, 64)  # 12 views, 30 degrees apart
    panel = reprojection_panel(orbit)
    assert "PSNR over visible pixels" in panel.view.value and "+30 degrees" in panel.view.value
    panel.controls["j"].value = 3
    assert "+90 degrees" in panel.view.value
