"""Test-wide set-up: offline by default and a guard that makes any network access fail.

Only loopback (127.0.0.0/8, ::1) and Unix sockets are allowed: the notebook kernels and the JupyterLab server of
the browser test live there. Anything else raises ``NetworkAccessBlocked`` at connect time.
"""

import ipaddress
import os
import socket
from types import SimpleNamespace

import matplotlib
import pytest
import torch
from diffusers import CogVideoXDDIMScheduler

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
matplotlib.use("Agg")


class NetworkAccessBlocked(RuntimeError):
    pass


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: resolve nothing, refuse
        return False


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
        raise NetworkAccessBlocked(f"tests may not reach the network: connect to {address!r} blocked")
    return _connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
        raise NetworkAccessBlocked(f"tests may not reach the network: connect to {address!r} blocked")
    return _connect_ex(self, address)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex


@pytest.fixture
def clip():
    from labkit.data.shapes import make_clip

    return make_clip("a red circle moving right", seed=1)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One CPU thread for a module: on a busy 2-core machine two threads made tiny models ~20x slower."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny_vae():
    """A randomly initialised tiny causal 3D VAE (4 latent channels), the stand-in for pipeline tests."""
    from labkit.models.vae import tiny_vae_3d

    return tiny_vae_3d(latent_channels=4, block_out_channels=(8, 8, 8, 8))


@pytest.fixture(scope="module")
def vae(tiny_vae):
    """The tiny VAE under the name the pipeline tests use for "the pipeline's VAE"."""
    return tiny_vae


class FakeCogVideoX:
    """Enough of a ``CogVideoXPipeline`` for :func:`labkit.models.cogvideox.video_from_noise`: records each call."""

    vae_scale_factor_temporal, vae_scale_factor_spatial = 4, 8

    def __init__(self):
        self.transformer = SimpleNamespace(config=SimpleNamespace(in_channels=4, max_text_seq_length=8))
        self.scheduler = CogVideoXDDIMScheduler()
        self.calls = []

    def __call__(self, latents, num_inference_steps, num_frames, height, width, output_type, **kwargs):
        self.calls.append({"latents": latents, "steps": num_inference_steps, "output_type": output_type,
                           "scheduler": type(self.scheduler).__name__, **kwargs})
        if output_type == "latent":
            return SimpleNamespace(frames=latents)
        return SimpleNamespace(frames=torch.full((1, num_frames, 3, height, width), 0.5))


@pytest.fixture()
def fake_cogvideox():
    """The :class:`FakeCogVideoX` class: call it for a fresh fake pipeline."""
    return FakeCogVideoX
