"""The ``labkit`` command: ``run``, ``sweep``, ``train``, ``ship``, ``card``, ``doctor`` and ``bench``.

The course's one entry point (README); ``train`` hands over to the trainer shell (:mod:`labkit.training.cli`),
``ship`` to :mod:`labkit.shipping.ship` (which then writes a pipeline's card) and ``card`` to
:mod:`labkit.models.cards`.

``labkit run [--smoke] [NOTEBOOK...] [-p NAME VALUE]...``  execute the course (README: ``make course``)
``labkit sweep NOTEBOOK -p NAME V1,V2,... [--executor dask]`` one job per combination, here or on a Dask cluster;
                                                            key numbers in a CSV table, ``--plot KEY`` a figure
``labkit train KIND [ARGS...]``                             train a course model (``labkit train --help``)
``labkit doctor``                                           versions, device, offline status, shipped models
``labkit bench [NAME...]``                                  run scripts from ``benchmarks/``
``labkit ship SRC DEST [--replace REASON]``                 ship a trained folder (and the runs behind it) into data/
``labkit card FOLDER...``                                   (re)write a pipeline folder's model card README.md

Every command checks its flags (:mod:`labkit.checks`) before its heavy imports: a bad value ends it with one
line on stderr and exit status 2, having written nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from labkit import DATA_DIR, OUTPUTS_DIR, PROJECT_ROOT, __version__
from labkit.checks import ArgumentParser, check_choice, check_folder, check_out, flag
from labkit.course.nbtools import find_notebooks, resolve_parameters
from labkit.course.sweep import check_sweep, run_plan
from labkit.shipping.manifest import verify

__all__ = ["cmd_run", "cmd_sweep", "cmd_train", "cmd_ship", "cmd_card", "cmd_doctor", "cmd_bench", "build_parser",
           "main"]


def _parse_pairs(pairs) -> dict:
    return {name: value for name, value in (pairs or [])}


def _refuse(command: str, err: Exception) -> int:
    """One line on stderr, exit status 2: a command's arguments were refused before any work."""
    print(f"labkit {command}: {err}", file=sys.stderr)
    return 2


def cmd_run(args) -> int:
    try:  # names, parameters and --out before papermill is imported
        if args.out is not None:
            check_out(args.out)
        resolve_parameters(find_notebooks(args.notebooks), _parse_pairs(args.parameter), args.smoke)
    except (TypeError, ValueError) as err:
        return _refuse("run", err)
    from labkit.course.runner import format_summary, run_course  # lazy: papermill loads only to run

    try:
        results = run_course(args.notebooks, _parse_pairs(args.parameter), smoke=args.smoke,
                             out_dir=args.out, cell_timeout=args.cell_timeout, progress=not args.no_progress)
    except ValueError as err:
        return _refuse("run", err)
    print()
    print(format_summary(results))
    out = Path(args.out or OUTPUTS_DIR)
    print(f"report: {out / 'report.md'} and {out / 'report.html'}")
    failed = [r for r in results if r.status != "ok"]
    for r in failed:
        print(f"FAILED {r.name}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def cmd_sweep(args) -> int:
    try:  # the grid, every combination's values, the executor and --out before papermill or dask is imported
        plan = check_sweep(args.notebook, _parse_pairs(args.parameter), args.smoke, args.out, args.executor,
                           args.scheduler, args.workers)
    except (TypeError, ValueError) as err:
        return _refuse("sweep", err)
    try:
        result = run_plan(plan, args.cell_timeout, not args.no_progress, args.plot, args.retry_failed)
    except ValueError as err:  # an unreachable --scheduler, or a --plot KEY no job recorded
        print(f"labkit sweep: {err}", file=sys.stderr)
        return 1
    print(f"{len(result.jobs) - len(result.failed)}/{len(result.jobs)} jobs ok, {len(result.ran)} run now in "
          f"{result.seconds:.1f} s")
    print(f"table: {result.csv}" + (f"\nplot: {result.plot}" if result.plot else ""))
    failed = [(job, summary) for job, summary in zip(plan.jobs, result.jobs) if summary["status"] != "ok"]
    for job, summary in failed:
        print(f"FAILED {job.tag}: {summary['error']}", file=sys.stderr)
    if any(job.key not in result.ran for job, _ in failed):
        print("(failed jobs that finished before are not run again: --retry-failed runs them)", file=sys.stderr)
    return 1 if failed else 0


def cmd_train(args) -> int:
    # lazy: the trainer shell stays out of the start-up of `labkit run`
    from labkit.training import cli as trainers  # lazy: see above

    if args.kind in (None, "list"):
        rows = "\n".join(f"  {kind:<15} {notebook:<28} -> {makes}" for kind, makes, notebook in trainers.trainer_table())
        print(f"labkit train KIND [ARGS...] (--help for a kind's flags); KIND, its notebook -> the shipped models it makes:\n{rows}")
        return 0
    return trainers.main(args.kind, args.rest)


def _add_card_if_pipeline(folder: Path):
    from labkit.models.cards import add_card_if_pipeline  # lazy: torch/diffusers load only once shipped

    return add_card_if_pipeline(folder)


def cmd_ship(args) -> int:
    from labkit.shipping import ship  # lazy: ship imports the registry's manifest checks only when shipping

    return ship.main(args.rest, after_ship=_add_card_if_pipeline)


def cmd_card(args) -> int:
    try:
        for folder in args.folders:
            check_folder(folder, "FOLDER", "model_index.json", what="pipeline folder")
    except (TypeError, ValueError) as err:
        return _refuse("card", err)
    from labkit.models.cards import add_card  # lazy: torch/diffusers load only for cards

    for folder in args.folders:
        try:
            print(f"wrote {add_card(folder)}")
        except (FileNotFoundError, ValueError) as err:
            print(f"labkit card: {err}", file=sys.stderr)
            return 1
    return 0


def _doctor_lines() -> list[tuple[str, str]]:
    import importlib.metadata as md  # lazy: doctor only (the other commands start without torch)

    import psutil  # lazy: as above
    import torch  # lazy: as above

    lines = [("labkit", __version__), ("python", sys.version.split()[0])]
    for pkg in ("torch", "diffusers", "transformers", "accelerate", "papermill", "torchmetrics", "imageio-ffmpeg"):
        try:
            lines.append((pkg, md.version(pkg)))
        except md.PackageNotFoundError:
            lines.append((pkg, "MISSING"))
    if torch.cuda.is_available():
        lines.append(("device", f"cuda: {torch.cuda.get_device_name(0)}"))
    else:
        lines.append(("device", f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads); no CUDA"))
    offline = os.environ.get("HF_HUB_OFFLINE", "")
    lines.append(("offline", "yes (HF_HUB_OFFLINE=1)" if offline in ("1", "true", "True")
                  else "hub allowed (labkit run sets HF_HUB_OFFLINE=1 unless you set it to 0)"))
    mem = psutil.virtual_memory()
    lines.append(("memory", f"{mem.available / 2**30:.1f} GiB free of {mem.total / 2**30:.1f} GiB"))
    disk = shutil.disk_usage(PROJECT_ROOT)
    lines.append(("disk", f"{disk.free / 2**30:.1f} GiB free at {PROJECT_ROOT}"))
    from labkit.video import ffmpeg_available  # lazy: torch loads only for doctor

    lines.append(("ffmpeg", "yes (mp4 videos)" if ffmpeg_available() else "no: videos fall back to gif"))
    return lines


def _model_status() -> tuple[list[tuple[str, str]], bool]:
    status = verify()
    if not status:
        return [("shipped files", f"none listed in {DATA_DIR / 'MANIFEST'}")], True
    by_folder: dict[str, list[str]] = {}
    for path, state in status.items():
        folder = "/".join(path.split("/")[:2]) if path.startswith("models/") else path.split("/")[0]
        by_folder.setdefault(folder, []).append(state)
    rows, ok = [], True
    for folder, states in sorted(by_folder.items()):
        bad = [s for s in states if s != "ok"]
        ok &= not bad
        rows.append((folder, f"ok ({len(states)} files)" if not bad else f"PROBLEM: {', '.join(sorted(set(bad)))}"))
    return rows, ok


def cmd_doctor(args) -> int:
    rows = _doctor_lines()
    models, ok = _model_status()
    width = max(len(k) for k, _ in rows + models)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    print("shipped data (sha256 against data/MANIFEST):")
    for key, value in models:
        print(f"  {key.ljust(width)}  {value}")
    if args.json:
        print(json.dumps({"env": dict(rows), "data": dict(models), "ok": ok}))
    return 0 if ok else 1


def cmd_bench(args) -> int:
    scripts = {s.stem: s for s in sorted((PROJECT_ROOT / "benchmarks").glob("*.py"))}
    try:
        names = [check_choice(name, "NAME", scripts, what="benchmark") for name in args.names] or list(scripts)
        if not names:
            raise ValueError(f"NAME: expected benchmark scripts in {PROJECT_ROOT / 'benchmarks'}, found none")
    except (TypeError, ValueError) as err:
        return _refuse("bench", err)
    code = 0
    for name in names:
        print(f"== {name}", flush=True)
        code |= subprocess.call([sys.executable, str(scripts[name])])
    return code


def cmd_exercises(args) -> int:
    """``labkit exercises [LESSON ...] [--markdown]``."""
    try:
        lessons = [str(n).zfill(2) for n in args.lessons] or None
        known = sorted(nb.stem[:2] for nb in find_notebooks())
        for number in lessons or ():
            check_choice(number, "LESSON", known, what="lesson")
    except (TypeError, ValueError) as err:
        return _refuse("exercises", err)
    from labkit.course import exercises  # lazy: the exercises import torch and every lesson's ideas

    if args.markdown:
        print(exercises.guide_table(lessons))
        return 0
    for ex in exercises.EXERCISES.values():
        if lessons is None or ex.lesson in lessons:
            print(f"{ex.id:<28} {ex.title}\n{'':<28} teaches: {ex.teaches}\n{'':<28} task: {ex.task}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="labkit", description="Video Diffusion Lab command line")
    parser.add_argument("--version", action="version", version=f"labkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute course notebooks headless and write outputs/report.{md,html}")
    run.add_argument("notebooks", nargs="*", help="notebook names (00_tour, 00, ...); default: all")
    run.add_argument("--smoke", action="store_true", help="tiny settings (SMOKE=True), as in CI")
    run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="set a notebook parameter (validated against its parameters cell)")
    run.add_argument("--out", default=None, help="output folder (default outputs/)")
    run.add_argument("--cell-timeout", type=flag("cell_timeout"), default=900, help="seconds per cell before failing")
    run.add_argument("--no-progress", action="store_true", help="hide the per-cell progress bar")
    run.set_defaults(func=cmd_run, parser=run)

    sweep = sub.add_parser(
        "sweep", help="run one notebook over a grid of parameter values, here or on a Dask cluster",
        description="One job per combination of the -p values, each in its own kernel. Every job's executed "
        "notebook, videos and job.json go to OUT/<job>/, written whole or not at all; a job finished before "
        "is not run again. OUT/sweep.csv: one row per job (parameters, status, seconds, peak memory, error, "
        "key numbers). A failed job is reported with its cell and error, the others run on, and the exit "
        "status is 1.")
    sweep.add_argument("notebook", help="a course notebook (00_tour, 00) or a path to a .ipynb")
    sweep.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "V1,V2,..."),
                       help="a parameter and its comma-separated values (repeat -p for a grid)")
    sweep.add_argument("--smoke", action="store_true", help="tiny settings (SMOKE=True) in every job")
    sweep.add_argument("--out", default=None, help="output folder (default outputs/sweeps/NOTEBOOK)")
    sweep.add_argument("--executor", default="local", metavar="{local,dask}",
                       help="local (default): one job after another here; dask: on dask.distributed workers")
    sweep.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="with --executor dask: a running scheduler (tcp://HOST:8786) whose workers run the "
                            "jobs (default: a LocalCluster on this machine)")
    sweep.add_argument("--workers", type=flag("workers"), default=None, metavar="N",
                       help="with --executor dask and no --scheduler: LocalCluster worker processes, one job "
                            "each at a time (default: one per core, at most one per job)")
    sweep.add_argument("--plot", default=None, metavar="KEY",
                       help="plot this key number (a record() of the notebook) against the swept parameters: "
                            "OUT/sweep_KEY.png")
    sweep.add_argument("--retry-failed", action="store_true",
                       help="run again the jobs whose notebook failed before (finished jobs are skipped)")
    sweep.add_argument("--cell-timeout", type=flag("cell_timeout"), default=900, help="seconds per cell before failing")
    sweep.add_argument("--no-progress", action="store_true", help="hide the per-cell progress bar (local executor)")
    sweep.set_defaults(func=cmd_sweep, parser=sweep)

    train = sub.add_parser("train", help="train a course model (KIND list shows the kinds)", add_help=False)
    train.add_argument("kind", nargs="?")
    train.add_argument("rest", nargs=argparse.REMAINDER)
    train.set_defaults(func=cmd_train, parser=train)

    doctor = sub.add_parser("doctor", help="check the installation and the shipped models")
    doctor.add_argument("--json", action="store_true", help="also print a JSON line")
    doctor.set_defaults(func=cmd_doctor, parser=doctor)

    ship = sub.add_parser("ship", help="ship a trained folder and the chain of runs behind it into data/",
                          add_help=False)
    ship.add_argument("rest", nargs=argparse.REMAINDER)
    ship.set_defaults(func=cmd_ship, parser=ship)

    card = sub.add_parser("card", help="(re)write the model card README.md of shipped pipeline folders")
    card.add_argument("folders", nargs="+", type=Path, help="pipeline folders, e.g. data/models/tiny-t2v")
    card.set_defaults(func=cmd_card, parser=card)

    exercises = sub.add_parser("exercises", help="list the lessons' exercises, what each teaches, its typical mistakes")
    exercises.add_argument("lessons", nargs="*", help="lesson numbers (02 ...); default: all")
    exercises.add_argument("--markdown", action="store_true", help="the instructor guide's table (docs/workshop.md)")
    exercises.set_defaults(func=cmd_exercises, parser=exercises)

    bench = sub.add_parser("bench", help="run benchmark scripts from benchmarks/")
    bench.add_argument("names", nargs="*")
    bench.set_defaults(func=cmd_bench, parser=bench)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extra = build_parser().parse_known_args(argv)
    if args.command in ("train", "ship"):  # they parse their own flags: everything after the command (and KIND)
        tail = argv[argv.index(args.command) + 1:]
        args.rest = tail[1:] if args.command == "train" and args.kind else tail
    elif extra:  # named by the command they were given to
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
