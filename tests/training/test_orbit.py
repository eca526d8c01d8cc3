"""labkit.training.orbit: orbit batches and their conditioning shapes, the flow loss backpropagates whether the
views are generated jointly or one at a time."""

import pytest
import torch

from labkit.models.orbit_unet import OrbitConfig, conditioning, new_unet
from labkit.training.orbit import flow_loss, orbit_batch

TINY = OrbitConfig(batch=1, num_views=3, size=16)


@pytest.fixture(scope="module")
def unet():
    return new_unet(TINY, seed=0).eval()


def test_batch_and_conditioning_shapes():
    b = orbit_batch(0, OrbitConfig(batch=2, num_views=3, size=16))
    assert b["input"].shape == (2, 3, 16, 16) and b["views"].shape == (2, 3, 3, 16, 16)
    assert b["plucker"].shape == (2, 3, 6, 16, 16)
    channels, added, token = conditioning(b["input"], b["plucker"], b["elevation"])
    assert channels.shape == (2, 3, 9, 16, 16) and added.shape == (2, 3) and token.shape[:2] == (2, 1)
    assert torch.equal(orbit_batch(5, TINY)["views"], orbit_batch(5, TINY)["views"])
    assert not torch.equal(orbit_batch(5, TINY)["views"], orbit_batch(6, TINY)["views"])


def test_loss_backpropagates_in_both_modes(unet):
    torch.manual_seed(0)
    for single_prob in (0.0, 1.0):
        cfg = OrbitConfig(batch=1, num_views=3, size=16, single_prob=single_prob)
        loss = flow_loss(unet, orbit_batch(1, cfg), cfg)
        loss.backward()
        assert torch.isfinite(loss) and loss > 0.1
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in unet.parameters())
        unet.zero_grad()
