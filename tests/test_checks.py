"""labkit.checks: the shared rules, and property-based tests over the public functions' numeric arguments.

For every (function, argument) below, hypothesis draws values the argument's rule refuses (NaN, infinities, bools,
strings, numbers out of range, floats for integers) and asserts a ValueError/TypeError that names the argument;
then values the rule accepts, and asserts the call goes through (for a pipeline helper: reaches the pipeline).
"""

import argparse
import math
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labkit
from labkit import checks, compression, multiview, noise, schedules
from labkit.attention import attention_cost
from labkit.checks import VOCABULARY, Number
from labkit.course import sweep
from labkit.data import knob, splits
from labkit.inference import runs
from labkit.metrics.corruptions import corrupt
from labkit.models import cogvideox
from labkit.models.orbit_unet import OrbitConfig
from labkit.models.text import shapes_tokenizer
from labkit.training.loop import TrainConfig, cosine_lr
from labkit.widgets import inference as widgets_inference
from labkit.widgets import multiview as widgets_multiview
from labkit.widgets import schedules as widgets_schedules
from labkit.widgets import t2v as widgets_t2v
from labkit.widgets import tour as widgets_tour

PROPERTY = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ------------------------------------------------------------------------------------------------ the rules
def test_messages_name_the_argument_what_was_expected_and_what_was_given():
    with pytest.raises(ValueError, match=r"^steps: expected an integer >= 1, got -5$"):
        checks.check_args(steps=-5)
    with pytest.raises(ValueError, match=r"^guidance_scale: expected a finite number >= 0, got nan$"):
        checks.check_args(guidance_scale=float("nan"))
    with pytest.raises(TypeError, match=r"^steps: expected an integer >= 1, got float 2.0$"):
        checks.check_args(steps=2.0)
    with pytest.raises(TypeError, match="lr: expected a finite number > 0, got bool True"):
        checks.check_args(lr=True)
    with pytest.raises(ValueError, match=r"seed: expected a seed in \[0, 2\*\*32\), got 4294967296"):
        checks.check_args(seed=2**32)
    with pytest.raises(KeyError, match="no rule for argument 'colour'"):
        checks.check_args(colour=3)


def test_numpy_and_0_dim_tensors_count_as_their_number_and_none_only_when_allowed():
    import numpy as np

    checks.check_args(steps=np.int64(3), lr=np.float32(0.1), guidance_scale=torch.tensor(2.0))
    checks.check_args(seed=None, allow_none=("seed",))
    with pytest.raises(TypeError, match="seed: expected a seed"):
        checks.check_args(seed=None)


def test_rules_describe_ranges_multiples_and_choices():
    assert VOCABULARY["ema_decay"].describe() == "a finite number in [0, 1)"
    assert Number(integer=True, low=16, multiple_of=16).describe() == "an integer >= 16, a multiple of 16"
    assert Number(integer=True, among=(1, 2, 4)).describe() == "an integer in {1, 2, 4}"
    with pytest.raises(ValueError, match="got 3"):
        Number(integer=True, among=(1, 2, 4)).check(3, "patch_size")


def test_a_mistyped_name_gets_the_closest_one():
    with pytest.raises(ValueError, match=r"name: unknown model 'tiny-tv2' \(did you mean 'tiny-t2v'\?\)"):
        labkit.models.check_name("tiny-tv2")
    with pytest.raises(TypeError, match="expected a model name"):
        labkit.models.check_name(3)


def test_paths(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="--resume: expected an existing run folder, got .* \\(a file\\)"):
        checks.check_folder(tmp_path / "file", "--resume", what="run folder")
    with pytest.raises(ValueError, match="with model_index.json"):
        checks.check_folder(tmp_path, "--init-from", "model_index.json")
    with pytest.raises(ValueError, match="--out: expected a folder, got the file"):
        checks.check_out(tmp_path / "file")
    monkeypatch.setattr(labkit, "DATA_DIR", tmp_path / "data")
    with pytest.raises(ValueError, match="--out: expected a folder outside"):
        checks.check_out(tmp_path / "data" / "models" / "x")
    assert checks.check_out(tmp_path / "data" / "models" / "x", allow_data=True).name == "x"
    assert not (tmp_path / "data").exists()  # a check creates nothing


def test_parsers_refuse_in_one_line(capsys):
    parser = checks.ArgumentParser(prog="labkit demo")
    parser.add_argument("--lr", type=checks.flag("lr"))
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--lr", "nan"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert err.startswith("labkit demo: argument --lr: expected a finite number > 0, got nan")
    args = argparse.Namespace(batch=0, name="x", seed=None)
    with pytest.raises(ValueError, match="--batch: expected an integer >= 1, got 0"):
        checks.check_namespace(args)


def test_importing_the_checks_imports_no_torch():
    code = "import sys, labkit.checks, labkit.models; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


# ------------------------------------------------------------------------------------------------ strategies
def bad_values(rule: Number):
    """Values ``rule`` refuses: NaN, infinities, bools, strings, numbers out of range, floats for integers."""
    options = [st.sampled_from([math.nan, math.inf, -math.inf, True, False, "3", [1]])]
    if rule.integer:
        options.append(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
    if rule.low is not None:
        below = rule.low if rule.low_open else rule.low - (1 if rule.integer else 1e-6)
        options.append(st.integers(-10**6, math.floor(below)) if rule.integer
                       else st.floats(-1e6, below, allow_nan=False))
    if rule.high is not None:
        above = rule.high if rule.high_open else rule.high + (1 if rule.integer else 1e-6)
        options.append(st.integers(math.ceil(above), math.ceil(above) + 10**6) if rule.integer
                       else st.floats(above, above + 1e6, allow_nan=False))
    return st.one_of(options)


def good_values(rule: Number, cap: float):
    """Values ``rule`` accepts, at most ``cap`` (the call stays cheap)."""
    low = rule.low if rule.low is not None else -cap
    high = min(rule.high, cap) if rule.high is not None else cap
    if rule.among:
        return st.sampled_from([v for v in rule.among if v <= cap])
    if rule.integer:
        low = math.floor(low) + 1 if rule.low_open else math.ceil(low)
        high = math.ceil(high) - 1 if rule.high_open and high == rule.high else math.floor(high)
        return st.integers(low, high)
    return st.floats(low, high, exclude_min=rule.low_open, exclude_max=rule.high_open and high == rule.high)


class Reached(Exception):
    """Raised by a stub pipeline: the arguments were accepted and the work would start now."""


class StubCogVideoX:
    """Enough of a CogVideoXPipeline for ``cogvideox.generate`` and ``runs.generate`` to reach its ``__call__``."""

    unet = None
    tokenizer = shapes_tokenizer()
    transformer = SimpleNamespace(config=SimpleNamespace(max_text_seq_length=16))

    def __call__(self, **kwargs):
        raise Reached


CLIP = torch.rand(4, 3, 8, 8)
PROMPT = "a red circle moving right"

#: (function, fixed keyword arguments, {argument: (cap of good values, or a strategy of good values)}).
CASES = {
    "compression.video_values": (compression.video_values, dict(num_frames=3, height=4, width=4),
                                 {"num_frames": 64, "height": 64, "width": 64, "channels": 4}),
    "compression.patch_tokens": (compression.patch_tokens, dict(num_frames=3, height=4, width=4),
                                 {"num_frames": 64, "height": 64}),
    "compression.attention_matrix_bytes": (compression.attention_matrix_bytes, dict(tokens=4),
                                           {"tokens": 1000, "heads": 64, "bytes_per_value": 8}),
    "attention.attention_cost": (attention_cost, dict(variant="joint", num_frames=2, height=4, width=4, heads=2,
                                                      head_dim=8), {"num_frames": 16, "heads": 16, "batch": 4}),
    "schedules.beta_schedule": (schedules.beta_schedule, dict(name="linear"),
                                {"num_train_timesteps": 50, "beta_start": 1.0, "beta_end": 1.0}),
    "schedules.karras_sigmas": (schedules.karras_sigmas, dict(num_steps=4, sigma_min=0.002, sigma_max=80.0),
                                {"num_steps": 50, "sigma_min": st.floats(1e-4, 1.0), "rho": 20.0}),
    "schedules.flow_sigmas": (schedules.flow_sigmas, {}, {"num_train_timesteps": 50, "shift": 10.0}),
    "schedules.dynamic_shift": (schedules.dynamic_shift, dict(seq_len=512), {"seq_len": 10_000}),
    "noise.correlation_theory": (noise.correlation_theory, dict(num_frames=4, alpha=1.0),
                                 {"num_frames": 16, "alpha": 10.0}),
    "noise.correlated_noise": (noise.correlated_noise, dict(shape=(2, 3, 4, 4)), {"alpha": 10.0}),
    "noise.freq_filter": (noise.freq_filter, dict(shape=(4, 8, 8)),
                          {"spatial_stop": 1.0, "temporal_stop": 1.0, "order": 8.0}),
    "multiview.intrinsics": (multiview.intrinsics, dict(height=32),
                             {"height": 512, "width": 512, "fov_deg": st.floats(1.0, 170.0)}),
    "multiview.orbit_pose": (multiview.orbit_pose, dict(azimuth_deg=0.0, elevation_deg=20.0),  # radius < 1e-9:
                             {"azimuth_deg": 720.0, "elevation_deg": st.floats(-89.0, 89.0),  # eye == target
                              "radius": st.floats(1e-6, 10.0)}),
    "splits.clip_seed": (splits.clip_seed, dict(split="train", index=0), {"index": 10**6, "seed": 2**32}),
    "knob.expected_motion": (knob.expected_motion, dict(motion_bucket_id=127, fps=6),
                             {"motion_bucket_id": 255.0, "fps": 30.0}),
    "loop.cosine_lr": (cosine_lr, dict(step=3, total=10, base_lr=1e-3),
                       {"base_lr": 1.0, "warmup": 20, "final_frac": 1.0}),
    "loop.TrainConfig": (TrainConfig, {}, {"steps": 10**6, "lr": 1.0, "warmup": 100, "weight_decay": 1.0,
                                           "grad_clip": 10.0, "ema_decay": 1.0, "seed": 2**32,
                                           "checkpoint_every": 100, "log_every": 100}),
    "orbit_unet.OrbitConfig": (OrbitConfig, {}, {"batch": 64, "lr": 1.0, "num_views": 16, "single_prob": 1.0,
                                                 "size": st.integers(1, 64).map(lambda n: 2 * n)}),
    "corruptions.corrupt": (corrupt, dict(video=CLIP, kind="blur", strength=0.5), {"strength": 1.0, "seed": 2**32}),
    "cogvideox.generate": (cogvideox.generate, dict(pipe=StubCogVideoX(), prompt=PROMPT),
                           {"seed": 2**32, "steps": 100, "guidance_scale": 20.0,
                            "num_frames": st.integers(0, 8).map(lambda k: 8 * k + 1)}),
    "sweep.check_executor": (sweep.check_executor, dict(executor="dask"), {"workers": 64}),
    "runs.generate": (runs.generate, dict(pipe=StubCogVideoX(), condition=PROMPT, num_frames=9, height=64, width=64,
                                          steps=4),
                      {"num_frames": 64, "height": 512, "width": 512, "steps": 100, "seed": 2**32,
                       "guidance_scale": 20.0}),
}
ARGUMENTS = [(case, arg) for case, (_, _, args) in CASES.items() for arg in args]
#: Arguments whose function has a narrower rule than the vocabulary's.
RULES = {("splits.clip_seed", "index"): splits._INDEX}


def _rule(case: str, arg: str) -> Number:
    return RULES.get((case, arg), VOCABULARY.get(arg))


def _call(case: str, arg: str, value):
    function, fixed, _ = CASES[case]
    return function(**{**fixed, arg: value})


@pytest.mark.parametrize("case,arg", ARGUMENTS, ids=[f"{c}-{a}" for c, a in ARGUMENTS])
def test_bad_values_are_refused_naming_the_argument(case, arg):
    @PROPERTY
    @given(bad_values(_rule(case, arg)))
    def refused(value):
        with pytest.raises((ValueError, TypeError)) as err:
            _call(case, arg, value)
        assert str(err.value).startswith(f"{arg}: expected"), err.value

    refused()


@pytest.mark.parametrize("case,arg", ARGUMENTS, ids=[f"{c}-{a}" for c, a in ARGUMENTS])
def test_good_values_pass(case, arg):
    good = CASES[case][2][arg]
    strategy = good if isinstance(good, st.SearchStrategy) else good_values(_rule(case, arg), good)

    @PROPERTY
    @given(strategy)
    def accepted(value):
        try:
            _call(case, arg, value)
        except Reached:  # a pipeline helper got as far as the pipeline
            pass

    accepted()


def test_guidance_nan_is_refused_before_the_pipeline_runs():
    pipe = StubCogVideoX()
    with pytest.raises(ValueError, match="guidance_scale: expected a finite number >= 0, got nan"):
        cogvideox.generate(pipe, PROMPT, guidance_scale=float("nan"))
    with pytest.raises(Reached):
        cogvideox.generate(pipe, PROMPT, guidance_scale=1.0)
    with pytest.raises(ValueError, match="noise_aug_strength: expected"):
        runs.sweep_knob(SimpleNamespace(unet=object()), [object()], "noise_aug_strength", [0.02, -1.0], 9, 64, 64,
                        4)


def test_sweep_helpers_and_map_readers_refuse_bad_arguments_by_name():
    from labkit import attention_maps

    video = lambda *args: CLIP  # noqa: E731 - a stand-in generator: the checks come before any call
    metric = {"mean": lambda v: float(v.mean())}
    refusals = [
        (lambda: noise.steps_vs_quality(video, ["ddim"], [4, 0], [0], metric), "steps: expected an integer >= 1"),
        (lambda: noise.steps_vs_quality(video, ["ddim"], [4], [-1], metric), "seed: expected a seed"),
        (lambda: noise.steps_vs_quality(video, [], [4], [0], metric), "expected at least one sampler"),
        (lambda: noise.steps_vs_quality("video", ["ddim"], [4], [0], metric), "generate: expected a function"),
        (lambda: noise.compare_initial_noise(video, (4, 3, 8, 8), {"a": {"alpha": math.nan}}, [0], metric),
         "alpha: expected a finite number >= 0"),
        (lambda: noise.compare_initial_noise(video, (4, 3, 8, 8), {"a": "mixed"}, [0], metric),
         "settings['a']: expected a dict"),
        (lambda: noise.compare_initial_noise(video, (4, 3, 8, 8), {"a": {}}, [0], {"m": 3}),
         "metrics['m']: expected a function"),
        (lambda: schedules.matching_sigma([0.2, 1.5], [30.0, 10.0], 20.0), "sigmas: expected flow sigmas in (0, 1)"),
        (lambda: schedules.matching_sigma([0.2, 0.5], [30.0, math.nan], 20.0), "psnrs: expected finite values"),
        (lambda: schedules.matching_sigma([0.2, 0.5], [30.0, 10.0], math.nan), "target_psnr: expected a finite"),
        (lambda: attention_maps.temporal_maps(torch.rand(4, 1, 2, 2), 0, 2, 2), "batch: expected an integer >= 1"),
        (lambda: attention_maps.joint_video_maps(torch.rand(1, 1, 4, 4), 1, 2, 2, text_tokens=-1),
         "text_tokens: expected an integer >= 0"),
        (lambda: attention_maps.query_frame_attention(torch.rand(1, 1, 2, 2, 3, 3), 1, -1, 0),
         "y: expected an integer >= 0"),
    ]
    for call, message in refusals:
        with pytest.raises((TypeError, ValueError)) as err:
            call()
        assert str(err.value).startswith(message), (message, str(err.value))
    assert schedules.matching_sigma([0.2, 0.5], [30.0, 10.0], 20.0) == pytest.approx(1 / 3)  # logit midway: ln 0.5


@pytest.mark.parametrize("build,message", [
    (lambda: widgets_t2v.t2v_panel(None, steps=0), "steps: expected an integer >= 1, got 0"),
    (lambda: widgets_t2v.t2v_panel(None, guidance=math.nan), "guidance: expected a finite number >= 0, got nan"),
    (lambda: widgets_multiview.generator_panel(None, None, num_views=0), "num_views: expected an integer >= 1"),
    (lambda: widgets_inference.plan_panel(height=-32), "height: expected an integer >= 1, got -32"),
    (lambda: widgets_tour.caption_composer(seed=-1), "seed: expected a seed in [0, 2**32)"),
    (lambda: widgets_schedules.schedule_explorer(num_train_timesteps=0), "num_train_timesteps: expected an integer"),
    (lambda: widgets_schedules.noise_correlation_explorer(alpha=-1.0), "alpha: expected a finite number >= 0"),
])
def test_widget_panels_refuse_bad_settings_before_building(build, message):
    with pytest.raises((TypeError, ValueError)) as err:
        build()
    assert str(err.value).startswith(message)
