"""The one trainer shell behind ``labkit train KIND``: common flags, checks, ``RUN.json``, summary, shipping.

A trainer module declares only its own flags and its work::

    def add_arguments(parser, kind): ...      # its own flags (the shell adds the common ones)
    def run(args) -> TrainedRun: ...          # train, write the model into args.out, return the summary

The shell parses the common flags once (``--steps --seed --threads --out --resume --init-from --ship
--below-bars``; a trainer lists which optional ones it supports), checks them before any heavy import or work,
writes ``RUN.json`` into ``--out`` (:mod:`labkit.shipping.records`), prints one summary and ships through one
path (:func:`labkit.shipping.ship.ship_checked`): only when the model's bars are met, or ``--below-bars`` says so
and the verdict is recorded. ``--out`` inside ``data/`` (the form recorded for models shipped that way) means
``--ship`` to that folder from a run folder under ``outputs/models/``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from labkit import DATA_DIR, OUTPUTS_DIR, models
from labkit.shipping.records import write_run_record
from labkit.shipping.ship import ship, ship_checked

__all__ = ["Trainer", "TrainedRun", "TRAINERS", "common_parser", "build_parser", "check_common", "main", "trainer_table"]

#: The optional common flags a trainer may declare in ``Trainer.supports`` (the others every trainer takes).
OPTIONAL_FLAGS = ("resume", "init_from")


@dataclass(frozen=True)
class Trainer:
    """One ``labkit train KIND``: the module that does the work and the shipped model it makes."""

    kind: str
    module: str  # has add_arguments(parser, kind) and run(args) -> TrainedRun
    makes: str  # the shipped model (data/models/NAME) --ship writes by default
    notebook: str
    steps: int | None  # default --steps (None: the trainer module sets it, or picks one, e.g. per VAE kind)
    threads: int = 2
    out_name: str = ""  # run folder under outputs/models/ (str.format with the parsed args); default ``makes``
    supports: tuple[str, ...] = ()  # optional common flags: "resume", "init_from"


@dataclass
class TrainedRun:
    """What a trainer's ``run`` returns to the shell."""

    summary: dict  # printed, recorded in RUN.json and (when shipped) PROVENANCE.json
    bars_problem: str | None = None  # None: this model has no bars; "": met; else what was missed
    below_bars_allowed: bool = True  # False when the evaluation was too small to ship below the bars
    builds_on: list = field(default_factory=list)  # folders it read weights from (None entries skipped)
    ship_ignore: tuple[str, ...] = ("training_state", "RUN.json")
    after_ship: Callable[[Path, str], object] | None = None  # (dest, command): e.g. reference statistics


TRAINERS: dict[str, Trainer] = {t.kind: t for t in (
    Trainer("vae", "labkit.training.vae", "vae-3d-v4", "01_latent_compression", None, threads=1,
            out_name="vae-{kind}", supports=("init_from",)),
    Trainer("image-unet", "labkit.training.animatediff", "tiny-image-unet", "02_temporal_attention", 1000),
    Trainer("motion-adapter", "labkit.training.animatediff", "tiny-motion-adapter", "02_temporal_attention", 900),
    Trainer("t2v", "labkit.training.t2v", "tiny-t2v", "04_train_tiny_video_model", None,
            supports=("resume", "init_from")),
    Trainer("i2v", "labkit.training.t2v", "tiny-i2v", "04_train_tiny_video_model", None,
            supports=("resume", "init_from")),
    Trainer("svd", "labkit.training.svd", "tiny-svd", "05_svd_cogvideox_inference", 800, threads=1),
    Trainer("orbit", "labkit.training.orbit", "tiny-orbit", "06_multiview_generation", None, threads=1),
    Trainer("features", "labkit.training.swnet", "swnet", "07_metric_evaluation", 600),
)}


def trainer_table() -> list[tuple[str, str, str]]:
    """``(kind, the shipped models it made, notebook)`` for every trainer (``labkit train list``), from the
    registry's ``train`` entries (``--ship`` without a folder writes ``data/models/<makes>``)."""
    made = {t.kind: [n for n, e in models.REGISTRY.items() if e.train.split()[2] == t.kind] for t in TRAINERS.values()}
    return [(t.kind, ", ".join(f"data/models/{n}" for n in made[t.kind]), t.notebook) for t in TRAINERS.values()]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**32), got {text}")
    return value


def common_parser(trainer: Trainer) -> argparse.ArgumentParser:
    """The flags every trainer shares (and the optional ones ``trainer.supports``); no heavy import needed."""
    p = argparse.ArgumentParser(prog=f"labkit train {trainer.kind}", add_help=False)
    common = p.add_argument_group("common to every trainer")
    common.add_argument("--steps", type=_positive_int, default=trainer.steps, help="training steps")
    common.add_argument("--seed", type=_seed, default=0, help="seed of weights, data and noise")
    common.add_argument("--threads", type=_positive_int, default=trainer.threads, help="torch CPU threads")
    common.add_argument("--out", type=Path, default=None,
                        help=f"the run folder (default outputs/models/{trainer.out_name or trainer.makes}); "
                             "a folder inside data/ means --ship to it")
    if "resume" in trainer.supports:
        common.add_argument("--resume", type=Path, default=None, help="a run folder written by an earlier run")
    if "init_from" in trainer.supports:
        common.add_argument("--init-from", type=Path, default=None, help="a trained folder to start from")
    common.add_argument("--ship", type=Path, nargs="?", const=DATA_DIR / "models" / trainer.makes, default=None,
                        help=f"ship the result into data/ (default data/models/{trainer.makes}) if its bars are met")
    common.add_argument("--below-bars", "--ship-below-bars", dest="below_bars", action="store_true",
                        help="with --ship: ship even if the bars are missed, recording which in PROVENANCE.json")
    return p


def build_parser(trainer: Trainer, module) -> argparse.ArgumentParser:
    """The common flags, then the trainer's own (``module.add_arguments``)."""
    p = argparse.ArgumentParser(prog=f"labkit train {trainer.kind}", parents=[common_parser(trainer)],
                                description=(module.__doc__ or "").strip().splitlines()[0])
    module.add_arguments(p, trainer.kind)
    return p


def _inside(path: Path, folder: Path) -> bool:
    return folder.resolve() in Path(path).resolve().parents


def check_common(args: argparse.Namespace, trainer: Trainer) -> None:
    """Resolve and check the common flags before any work; a ``ValueError`` names the flag."""
    if args.out is not None and _inside(args.out, DATA_DIR):  # the recorded form of shipping
        if args.ship is not None:
            raise ValueError(f"--out {args.out} is inside data/ (that means --ship {args.out}); give one of them")
        args.ship = Path(args.out)
        args.out = None
    if args.out is None:
        args.out = OUTPUTS_DIR / "models" / (trainer.out_name or trainer.makes).format(**vars(args))
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out: expected a folder, got the file {args.out}")
    if args.ship is not None:
        if not _inside(args.ship, DATA_DIR):
            raise ValueError(f"--ship: expected a folder inside {DATA_DIR}, got {args.ship}")
        if args.ship.exists():
            raise ValueError(f"--ship: {args.ship} exists; a training run never overwrites a shipped folder")
    elif args.below_bars:
        raise ValueError("--below-bars only applies with --ship")
    for name in OPTIONAL_FLAGS:
        path = getattr(args, name, None)
        if path is not None and not Path(path).is_dir():
            raise ValueError(f"--{name.replace('_', '-')}: expected an existing folder, got {path}")


def main(kind: str, argv: list[str]) -> int:
    """``labkit train KIND ARGS...``: parse, check, run, record, summarise, ship."""
    if kind not in TRAINERS:
        print(f"unknown trainer {kind!r}; expected one of: {', '.join(TRAINERS)}", file=sys.stderr)
        return 2
    trainer = TRAINERS[kind]
    if not {"-h", "--help"} & set(argv):  # the common flags are checked before the trainer module is imported
        early = common_parser(trainer)
        known, _ = early.parse_known_args(argv)
        try:
            check_common(known, trainer)
        except ValueError as err:
            early.error(str(err))
    # lazy: a trainer module imports torch/diffusers; `labkit train` loads only the one it runs
    module = importlib.import_module(trainer.module)
    parser = build_parser(trainer, module)
    args = parser.parse_args(argv)
    args.trainer = kind
    try:
        check_common(args, trainer)
        if hasattr(module, "check_arguments"):
            module.check_arguments(args)
    except ValueError as err:
        parser.error(str(err))
    import torch  # lazy: the flags are checked before torch is imported

    torch.set_num_threads(args.threads)
    command = f"labkit train {kind} " + shlex.join(argv)
    start = time.perf_counter()
    result = module.run(args)
    seconds = time.perf_counter() - start
    print(json.dumps(result.summary, indent=1, default=str), flush=True)
    record = dict(result.summary)
    if result.bars_problem is not None:
        record["bars_problem"] = result.bars_problem
    resume = getattr(args, "resume", None)
    resumed_here = resume is not None and Path(resume).resolve() == Path(args.out).resolve()
    write_run_record(args.out, command.strip(), args.seed, seconds, append=resumed_here, extra=record,
                     builds_on=result.builds_on)
    print(f"labkit train {kind}: {seconds:.0f} s, saved to {args.out}")
    if args.ship is None:
        return 0
    if result.bars_problem is None:
        ship(args.out, args.ship, command.strip(), args.seed, seconds, dict(result.summary),
             ignore=result.ship_ignore)
        code = 0
    else:
        code = ship_checked(args.out, args.ship, result.bars_problem,
                            args.below_bars and result.below_bars_allowed, command.strip(), args.seed, seconds,
                            dict(result.summary), ignore=result.ship_ignore)
    if code == 0 and result.after_ship is not None:
        result.after_ship(args.ship, command.strip())
    if code == 0:
        from labkit.models.cards import add_card_if_pipeline  # lazy: diffusers loads only after a ship

        add_card_if_pipeline(args.ship)  # a shipped pipeline folder gets its model card (labkit card)
    return code
