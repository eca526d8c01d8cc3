"""labkit.metrics.bias: the sensitivity table's signs and normalisation, and sharpness against blur."""

import numpy as np

from labkit.data.shapes import ShapesWorld
from labkit.metrics import corrupt
from labkit.metrics.bias import sensitivity_table, sharpness


def test_sensitivity_table_signs_and_normalises():
    rows = [{"corruption": "a", "strength": 0.0, "flicker": 0.1, "PSNR": 40.0},
            {"corruption": "a", "strength": 1.0, "flicker": 0.3, "PSNR": 20.0},
            {"corruption": "b", "strength": 0.0, "flicker": 0.1, "PSNR": 40.0},
            {"corruption": "b", "strength": 1.0, "flicker": 0.0, "PSNR": 30.0}]
    metrics, kinds, table = sensitivity_table(rows)
    assert metrics == ["flicker", "PSNR"] and kinds == ["a", "b"]
    np.testing.assert_allclose(table, [[1.0, -0.5], [1.0, 0.5]])


def test_sharpness_drops_with_blur():
    clean = ShapesWorld("test", 2)[1].video
    assert sharpness(corrupt(clean, "blur", 1.0)) < 0.7 * sharpness(clean)
