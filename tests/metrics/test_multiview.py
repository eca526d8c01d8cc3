"""labkit.metrics.multiview: novel-view scores against a PSNR computed by hand."""

import math

import pytest
import torch

from labkit.metrics.multiview import novel_view_scores


def test_novel_view_scores_against_manual_psnr():
    gt = torch.rand(4, 3, 16, 16)
    pred = (gt + 0.05 * torch.randn_like(gt)).clamp(0, 1)
    scores = novel_view_scores(pred, gt)
    manual = 10 * math.log10(1 / float(((pred[1:] - gt[1:]) ** 2).mean()))
    assert scores["psnr"] == pytest.approx(manual, abs=1e-3)
    assert novel_view_scores(gt, gt)["ssim"] == pytest.approx(1.0, abs=1e-5)
