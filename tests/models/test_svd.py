"""labkit.models.svd: the tiny SVD pipeline's own sampler loop against a perfect denoiser, and a UNet that hears
its micro-conditions."""

import torch
from PIL import Image

from labkit.models import svd as svd_models
from labkit.models.tiny import tiny_svd_components
from labkit.training import svd as st


def test_a_perfect_denoiser_recovers_the_data_through_the_pipeline_loop():
    """An oracle UNet that knows x0 and answers with the training target: the pipeline's own __call__ returns x0."""
    pipe = svd_models.build_pipeline(0)
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(1, 8, 4, 8, 8, generator=g)

    def oracle(sample, timestep, encoder_hidden_states=None, added_time_ids=None, return_dict=False):
        sigma = torch.exp(4 * timestep.float()).reshape(-1)[:1]  # c_noise = ln(sigma) / 4
        x = sample[:, :, :4] * (sigma ** 2 + 1).sqrt()  # undo c_in
        eps = (x - x0) / sigma
        return (st.training_pair(x0.expand_as(x), eps, sigma.expand(x.shape[0]))[2],)

    pipe.unet.forward = oracle
    image = Image.new("RGB", (16, 16), (30, 30, 30))
    latents = pipe(image, height=16, width=16, num_frames=8, num_inference_steps=6, output_type="latent",
                   generator=torch.Generator().manual_seed(0)).frames
    torch.testing.assert_close(latents, x0, rtol=1e-3, atol=1e-3)


def test_unet_hears_the_micro_conditions():
    """The UNet's output must depend on motion_bucket_id and on the timestep. (A 32-channel SVD UNet fails this:
    GroupNorm(32) over 32 channels erases the per-channel time-embedding shift -- checked below.)"""
    g = torch.Generator().manual_seed(0)
    x, e = torch.randn(1, 4, 8, 16, 16, generator=g), torch.randn(1, 1, 32, generator=g)

    def sensitivity(unet):
        with torch.no_grad():
            base = unet(x, 0.5, e, torch.tensor([[5.0, 0.0, 0.02]])).sample
            knob = unet(x, 0.5, e, torch.tensor([[5.0, 255.0, 0.02]])).sample
            time = unet(x, -1.0, e, torch.tensor([[5.0, 0.0, 0.02]])).sample
        return float((base - knob).abs().max()), float((base - time).abs().max())

    assert min(sensitivity(svd_models.build_pipeline(0).unet)) > 1e-3
    assert max(sensitivity(tiny_svd_components(0, unet_channels=(32, 32))["unet"])) < 1e-4
