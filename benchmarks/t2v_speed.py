"""How fast is the tiny text-to-video model of notebook 04 on this machine?

    python benchmarks/t2v_speed.py [--threads 2] [--repeats 3]

Measures, in one run, with the default sizes of ``labkit.models.cogvideox`` (random weights: speed does not depend on them):
one 17x64x64 clip with 25 DDIM steps with and without classifier-free guidance (the issue's bar: <= 3 s with
guidance on a 2-core CPU), the VAE decode alone, one transformer call, and one training step at batch 16.
Prints a table (median and min of ``--repeats``, measured round-robin) and ratios.
"""

import argparse
import statistics
import time

import torch

from labkit.models import cogvideox as t2v
from labkit.models import text


def _interleaved(fns: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """``{name: (median, min)}`` seconds; measurements run round-robin so a busy spell on a shared machine hits
    every row alike instead of one row."""
    for fn in fns.values():
        fn()  # warm-up
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    pipe = t2v.build_pipeline("t2v")
    prompt = "a red circle moving left quickly"
    latents = torch.randn(1, 16, 5, 8, 8)  # (B, C, F', h, w): the VAE's layout
    model = t2v.Denoiser(pipe.text_encoder, pipe.transformer)
    x, t = torch.randn(16, 5, 16, 8, 8), torch.randint(0, 1000, (16,))
    ids = text.tokenize(pipe.tokenizer, [prompt] * 16)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_step():
        loss = torch.nn.functional.mse_loss(model(x, t, ids), x)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def no_grad(fn):
        return lambda: torch.no_grad()(fn)()

    rows = _interleaved({
        "clip, 25 steps, guidance 4 (2 passes/step)": no_grad(
            lambda: t2v.generate(pipe, prompt, steps=25, guidance_scale=4.0)),
        "clip, 25 steps, no guidance": no_grad(lambda: t2v.generate(pipe, prompt, steps=25, guidance_scale=1.0)),
        "VAE decode of one clip": no_grad(lambda: pipe.vae.decode(latents)),
        "transformer call, batch 2": no_grad(lambda: model(x[:2], t[:2], ids[:2])),
        "training step, batch 16 (fwd+bwd+AdamW)": train_step,
    }, args.repeats)
    print(f"{'measurement':45s} {'median s':>9s} {'min s':>7s}   ({args.repeats} round-robin repeats, "
          f"{args.threads} threads)")
    for name, (med, low) in rows.items():
        print(f"{name:45s} {med:9.3f} {low:7.3f}")
    g = rows["clip, 25 steps, guidance 4 (2 passes/step)"][0]
    ng = rows["clip, 25 steps, no guidance"][0]
    vae_s = rows["VAE decode of one clip"][0]
    print(f"\nguidance costs {g / ng:.2f}x the unguided clip; the VAE decode is {vae_s / g:.0%} of a guided clip; "
          f"the bar (<= 3 s with guidance) is {'met' if g <= 3 else 'NOT met'} here (median {g:.2f} s)")
    step = rows["training step, batch 16 (fwd+bwd+AdamW)"][0]
    print(f"training steps per minute at batch 16: {60 / step:.0f} (median), {60 / rows['training step, batch 16 (fwd+bwd+AdamW)'][1]:.0f} (best)")

if __name__ == "__main__":
    main()
