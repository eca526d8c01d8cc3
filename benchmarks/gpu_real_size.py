"""Real-size, random-weight SVD-XT and CogVideoX-2B/-5B on a GPU: per-step time and peak VRAM per memory plan,
with the planner's prediction beside each measurement.  NEVER part of CI (needs a CUDA GPU with >= 40 GB).

    python benchmarks/gpu_real_size.py                      # everything (about 15-25 minutes on an H100)
    python benchmarks/gpu_real_size.py --models cogvideox-2b --plans none,model_cpu_offload --steps 3

The architectures come from data/configs (labkit.budgets) with random weights (no download): time and memory are
those of the real models; the videos are noise. Per-step time is the mean of the steady-state steps (a short run
of --steps, not 25/50: multiply by the real step count to compare with published end-to-end figures). Record the
printed table, device and date in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import sys

import torch

from labkit import budgets, inference

CASES = {  # model -> list of (num_frames, height, width, published steps)
    "svd-xt": [(14, 576, 1024, 25), (25, 576, 1024, 25)],
    "cogvideox-2b": [(49, 480, 720, 50)],
    "cogvideox-5b": [(49, 480, 720, 50)],
}
PLANS = {
    "svd": ["none", "decode_chunk", "forward_chunking+decode_chunk", "model_cpu_offload+decode_chunk"],
    "cogvideox": ["none", "model_cpu_offload", "model_cpu_offload+vae_tiling", "sequential_cpu_offload+vae_tiling"],
}


def run_case(name, frames, height, width, plan, steps) -> dict:
    pipe = inference.load_pipeline(f"real-size-random:{name}", "cuda", "bf16")
    cond = inference.default_condition(pipe, height=height, width=width)
    m = inference.measure(pipe, cond, plan, "cuda", frames, height, width, steps)
    pred = inference.predict_for(pipe, plan, frames, height, width, "cuda")["peak"]
    del pipe
    torch.cuda.empty_cache()
    return {"model": name, "video": f"{frames}x{height}x{width}", "plan": plan, "step (s)": m.mean_step_s,
            "wall (s)": m.wall_s, "peak (GiB)": m.peak_bytes / 2**30, "planner (GiB)": pred / 2**30}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(CASES))
    parser.add_argument("--plans", default="", help="comma-separated plans (default: per family)")
    parser.add_argument("--steps", type=int, default=3, help="denoising steps per measurement")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_real_size: no CUDA GPU here; nothing measured (this benchmark is never part of CI)")
        return 0
    print(f"# {torch.cuda.get_device_name(0)}, torch {torch.__version__}, {datetime.date.today()}")
    rows = []
    for name in args.models.split(","):
        family = budgets.get_spec(name).family
        for frames, height, width, _ in CASES[name]:
            for plan in (args.plans.split(",") if args.plans else PLANS[family]):
                try:
                    rows.append(run_case(name, frames, height, width, plan, args.steps))
                except torch.cuda.OutOfMemoryError:
                    rows.append({"model": name, "video": f"{frames}x{height}x{width}", "plan": plan, "oom": True})
                    torch.cuda.empty_cache()
                print(rows[-1], flush=True)
    print("\n| model | video | plan | s/step | peak GiB | planner GiB | planner/measured |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if r.get("oom"):
            print(f"| {r['model']} | {r['video']} | {r['plan']} | OOM | OOM | | |")
        else:
            print(f"| {r['model']} | {r['video']} | {r['plan']} | {r['step (s)']:.2f} | {r['peak (GiB)']:.1f} | "
                  f"{r['planner (GiB)']:.1f} | {r['planner (GiB)'] / r['peak (GiB)']:.2f} |")
    base = {(r["model"], r["video"]): r for r in rows if r.get("plan") == "none" and not r.get("oom")}
    print("\nratios to the plain plan, measured in this run:")
    for r in rows:
        b = base.get((r["model"], r["video"]))
        if b and not r.get("oom") and r["plan"] != "none":
            print(f"  {r['model']} {r['plan']}: time x{r['step (s)'] / b['step (s)']:.2f}, "
                  f"peak x{r['peak (GiB)'] / b['peak (GiB)']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
