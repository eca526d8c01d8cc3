"""labkit.inflation: zero-initialised motion modules leave the image model unchanged, only they train, causal
temporal attention blocks the future, a fresh inflated model samples the image model's frames, streaming needs
causal attention. Models are tiny and randomly initialised."""

import pytest
import torch

from labkit import inflation
from labkit.models import animatediff as I
from labkit.training.animatediff import v_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def image():
    return I.ImageDenoiser(I.new_image_unet(0), I.CaptionEncoder()).eval()


def _perturbed_adapter(seed=3):
    adapter = I.new_motion_adapter(seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in adapter.named_parameters():
            if "proj_out" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return adapter


def _video(image, adapter):
    return I.VideoDenoiser(inflation.inflate(image.unet, adapter), image.text).eval()


def _inputs(batch=1, frames=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, frames, 3, I.SIZE, I.SIZE, generator=g)
    return x, torch.tensor([500] * batch), I.tokenize(["a red circle moving left"] * batch)


def test_zero_initialised_motion_modules_leave_the_image_model_unchanged(image):
    x, t, ids = _inputs(batch=2, frames=3)
    with torch.no_grad():
        per_frame = torch.stack([image(x[:, f], t, ids) for f in range(x.shape[1])], dim=1)
        fresh = _video(image, I.new_motion_adapter())(x, t, ids)
        perturbed = _video(image, _perturbed_adapter())(x, t, ids)
    torch.testing.assert_close(fresh, per_frame, atol=1e-5, rtol=0)
    assert (perturbed - per_frame).abs().max() > 1e-3  # a non-zero motion module does change it


def test_only_motion_modules_train(image):
    video = I.VideoDenoiser(inflation.inflate(image.unet, I.new_motion_adapter()), image.text.requires_grad_(False))
    trainable = {n for n, p in video.named_parameters() if p.requires_grad}
    assert trainable and all("motion_modules" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in video.named_parameters()}
    opt = torch.optim.SGD([p for p in video.parameters() if p.requires_grad], lr=1.0)
    x, t, ids = _inputs(frames=2)
    v_loss(video, x.clamp(-1, 1), ids, torch.Generator().manual_seed(0)).backward()
    opt.step()
    changed = {n for n, p in video.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= trainable


def test_causal_temporal_attention_blocks_the_future(image):
    video = _video(image, _perturbed_adapter())
    name = next(n for n, _ in video.unet.named_modules() if "motion_modules" in n and n.endswith("attn1"))
    attn = dict(video.unet.named_modules())[name]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 6, attn.to_q.in_features, generator=g)  # ((B*H*W), F, C): the motion module's layout
    x2 = x.clone()
    x2[:, 4:] = torch.randn(7, 2, x.shape[-1], generator=g)
    with torch.no_grad():
        inflation.set_temporal_attention(video.unet, causal=True)
        assert isinstance(attn.processor, inflation.CausalTemporalAttnProcessor)
        a, b = attn(x), attn(x2)
        inflation.set_temporal_attention(video.unet, causal=False)
        c, d = attn(x), attn(x2)
    assert torch.equal(a[:, :4], b[:, :4])  # causal: earlier frames do not see the change
    assert (c[:, :4] - d[:, :4]).abs().max() > 1e-3  # bidirectional (diffusers' processor): they do
    # the last frame sees every frame in both modes: the causal processor matches diffusers' there
    torch.testing.assert_close(a[:, -1], c[:, -1], atol=1e-5, rtol=0)
    assert (a[:, 0] - c[:, 0]).abs().max() > 1e-4


def test_fresh_inflated_model_samples_the_same_frames(image):
    caption = "a green square moving right"
    frames = I.sample_frames(image, caption, num_frames=3, seed=1, steps=3)
    clip = I.sample_clip(_video(image, I.new_motion_adapter()), caption, num_frames=3, seed=1, steps=3)
    assert frames.shape == (3, 3, I.SIZE, I.SIZE) and 0 <= frames.min() and frames.max() <= 1
    torch.testing.assert_close(clip, frames, atol=1e-4, rtol=0)


def test_streaming_needs_causal_and_returns_frames(image):
    video = _video(image, _perturbed_adapter())
    with pytest.raises(ValueError, match="causal"):
        I.sample_streaming(video, "a red circle moving left", num_frames=3, steps=2)
    inflation.set_temporal_attention(video.unet, True)
    out = I.sample_streaming(video, "a red circle moving left", num_frames=3, steps=2, window=2)
    assert out.shape == (3, 3, I.SIZE, I.SIZE)
    again = I.sample_streaming(video, "a red circle moving left", num_frames=3, steps=2, window=2)
    assert torch.equal(out, again)  # deterministic for a seed
