"""labkit.metrics.quality: PSNR and SSIM against torchmetrics, falling with spatial damage, and input checks."""

import numpy as np
import pytest
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from labkit.data.shapes import ShapesWorld
from labkit.metrics import corrupt, psnr, ssim

STRENGTHS = (0.0, 0.25, 0.5, 1.0)


torch.set_num_threads(2)


def test_psnr_ssim_equal_torchmetrics():
    clean = ShapesWorld("test", 2)[0].video
    noisy = corrupt(clean, "noise", 0.3, seed=1)
    assert psnr(noisy, clean) == float(peak_signal_noise_ratio(noisy, clean, data_range=1.0))
    assert ssim(noisy, clean) == float(structural_similarity_index_measure(noisy, clean, data_range=1.0))
    # and PSNR is the textbook formula with one MSE over the whole clip
    mse = ((noisy - clean) ** 2).double().mean()
    assert psnr(noisy, clean) == pytest.approx(float(10 * torch.log10(1 / mse)), rel=1e-5)
    frozen = clean[:1].expand_as(clean)
    assert np.isfinite(psnr(frozen, clean))  # one identical frame does not make it inf


@pytest.mark.parametrize("kind", ["noise", "blur"])
def test_psnr_ssim_fall_with_spatial_damage(kind):
    clean = ShapesWorld("test", 1)[0].video
    psnrs = [psnr(corrupt(clean, kind, s), clean) for s in STRENGTHS[1:]]
    ssims = [ssim(corrupt(clean, kind, s), clean) for s in STRENGTHS]
    assert np.all(np.diff(psnrs) < 0), psnrs
    assert np.all(np.diff(ssims) < 0) and ssims[0] == pytest.approx(1.0, abs=1e-4)


def test_psnr_rejects_different_frame_counts_and_layouts():
    a = torch.rand(8, 3, 16, 16)
    with pytest.raises(ValueError, match=r"different frame counts \(8 vs 6\)"):
        psnr(a, a[:6])
    with pytest.raises(ValueError, match="frames and channels swapped"):
        ssim(a.permute(1, 0, 2, 3), a.permute(1, 0, 2, 3))
