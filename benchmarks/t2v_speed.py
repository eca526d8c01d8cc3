"""How fast is the tiny text-to-video model of notebook 04 on this machine?

    python benchmarks/t2v_speed.py [--threads 2] [--repeats 3]

Measures, in one run, with the default sizes of ``labkit.t2v`` (random weights: speed does not depend on them):
one 17x64x64 clip with 25 DDIM steps with and without classifier-free guidance (the issue's bar: <= 3 s with
guidance on a 2-core CPU), the VAE decode alone, one transformer call, and one training step at batch 16.
Prints a table (median of ``--repeats``) and ratios.
"""

import argparse
import statistics
import time

import torch


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    from labkit import t2v
    from labkit import t2v_train as tt

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    pipe = t2v.build_pipeline("t2v")
    prompt = "a red circle moving left quickly"
    latents = torch.randn(1, 16, 5, 8, 8)  # (B, C, F', h, w): the VAE's layout
    model = tt.Denoiser(pipe.text_encoder, pipe.transformer)
    x, t = torch.randn(16, 5, 16, 8, 8), torch.randint(0, 1000, (16,))
    ids = tt.tokenize(pipe.tokenizer, [prompt] * 16)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_step():
        loss = torch.nn.functional.mse_loss(model(x, t, ids), x)
        opt.zero_grad()
        loss.backward()
        opt.step()

    with torch.no_grad():
        rows = {
            "clip, 25 steps, guidance 4 (2 passes/step)": _median_seconds(
                lambda: t2v.generate(pipe, prompt, steps=25, guidance_scale=4.0), args.repeats),
            "clip, 25 steps, no guidance": _median_seconds(
                lambda: t2v.generate(pipe, prompt, steps=25, guidance_scale=1.0), args.repeats),
            "VAE decode of one clip": _median_seconds(lambda: pipe.vae.decode(latents), args.repeats),
            "transformer call, batch 2": _median_seconds(lambda: model(x[:2], t[:2], ids[:2]), args.repeats),
        }
    rows["training step, batch 16 (fwd+bwd+AdamW)"] = _median_seconds(train_step, args.repeats)
    print(f"{'measurement':45s} {'seconds':>8s}   (median of {args.repeats}, {args.threads} threads)")
    for name, sec in rows.items():
        print(f"{name:45s} {sec:8.3f}")
    g, ng = rows["clip, 25 steps, guidance 4 (2 passes/step)"], rows["clip, 25 steps, no guidance"]
    print(f"\nguidance costs {g / ng:.2f}x the unguided clip; the VAE decode is {rows['VAE decode of one clip'] / g:.0%} "
          f"of a guided clip; the bar (<= 3 s with guidance) is {'met' if g <= 3 else 'NOT met'} here ({g:.2f} s)")
    print(f"training steps per minute at batch 16: {60 / rows['training step, batch 16 (fwd+bwd+AdamW)']:.0f}")


if __name__ == "__main__":
    main()
