"""Running the real video pipelines: offline loading, memory plans, and run-and-measure.

Taught in ``05_svd_cogvideox_inference``.

- :mod:`.loading`  ``load_pipeline(spec, device, dtype)``: a local folder, a shipped model, a hub id from the local
  cache only (a miss raises :class:`WeightsNotFound` at once, with instructions), ``random:tiny-*`` or
  ``real-size-random:NAME``
- :mod:`.plans`    named memory plans (``"model_cpu_offload+vae_tiling"``) and ``apply_plan``
- :mod:`.runs`     ``generate``, ``measure`` (wall time, per-step time, peak memory), ``compare_plans``,
  ``sweep_knob``, ``throughput``
"""

from labkit.inference.loading import (
    WeightsNotFound,
    load_pipeline,
    pipeline_family,
    resolve_device,
    resolve_dtype,
)
from labkit.inference.plans import PLANS, PlanNotApplicable, PlanStep, apply_plan, parse_plan
from labkit.inference.runs import (
    Measurement,
    compare_plans,
    default_condition,
    generate,
    max_abs_diff,
    measure,
    predict_for,
    sweep_knob,
    throughput,
)

__all__ = ["WeightsNotFound", "PlanNotApplicable", "resolve_dtype", "resolve_device", "load_pipeline",
           "PlanStep", "PLANS", "parse_plan", "apply_plan", "Measurement", "measure", "generate",
           "pipeline_family", "max_abs_diff", "default_condition", "predict_for", "compare_plans",
           "sweep_knob", "throughput"]
