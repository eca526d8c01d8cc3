"""Run records and chains of runs: how a model trained in several ``labkit train`` runs is shipped with all of them.

Taught nowhere (it is the kit's bookkeeping); written by the trainers, read by ``labkit ship``.

Many course models are trained in stages: a VAE continued with ``--init-from`` from another one, a denoiser
trained on a VAE from ``--vae`` and resumed with ``--resume``. ``data/MANIFEST`` must name the *whole* chain of
commands that produced a shipped file, so the trainers whose runs continue one another
(``labkit train vae|t2v|i2v|orbit``) write a ``RUN.json`` record into their output folder::

    {"runs": [{"command": "labkit train vae ...", "seed": 3, "seconds": 917.2, "hardware": "...",
               "created": "2026-12-03T14:52:10Z", "builds_on": ["outputs/models/vae-cc03"]}, ...]}

``runs`` holds every run that wrote into the folder (a run resumed into its own folder appends to it);
``builds_on`` lists the folders the run read weights from. :func:`run_chain` follows ``builds_on`` back until it
reaches a folder inside ``data/`` -- shipped, so its own ``PROVENANCE.json`` and ``MANIFEST`` lines already record
it -- and :func:`ship_chain` ships the last folder with the commands of every earlier run joined by ``&&`` (the
order to re-run them in), the seeds, the seconds of each run and their sum.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["RUN_RECORD", "write_run_record", "read_runs", "run_chain", "chain_command", "ship_chain", "main"]

RUN_RECORD = "RUN.json"


def _project_relative(path) -> str:
    """``path`` relative to the project root when it lies inside it (commands are run from there), else absolute."""
    from . import PROJECT_ROOT

    path = Path(path).resolve()
    try:
        return str(path.relative_to(PROJECT_ROOT.resolve()))
    except ValueError:
        return str(path)


def read_runs(folder) -> list[dict]:
    """The ``runs`` recorded in ``folder/RUN.json`` (empty when there is none)."""
    path = Path(folder) / RUN_RECORD
    if not path.exists():
        return []
    runs = json.loads(path.read_text()).get("runs")
    if not isinstance(runs, list):
        raise ValueError(f"{path}: expected {{'runs': [...]}}, got {path.read_text()[:80]!r}")
    return runs


def write_run_record(folder, command: str, seed, seconds: float, builds_on=(), extra: dict | None = None,
                     append: bool = False) -> Path:
    """Record one run in ``folder/RUN.json`` (atomically). ``builds_on``: the folders it read weights from
    (``None`` entries are skipped); ``append``: keep the runs already recorded there (a run resumed into its own
    folder), else the record starts anew (a fresh run that replaced the folder)."""
    from .manifest import hardware_description

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"expected the run's output folder, got {folder} (not a folder)")
    own = folder.resolve()
    parents = [_project_relative(p) for p in builds_on if p is not None and Path(p).resolve() != own]
    run = {"command": command, "seed": seed, "seconds": round(float(seconds), 1), "hardware": hardware_description(),
           "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "builds_on": parents, **(extra or {})}
    runs = (read_runs(folder) if append else []) + [run]
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{RUN_RECORD}-")
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps({"runs": runs}, indent=1) + "\n")
    os.replace(tmp, folder / RUN_RECORD)
    return folder / RUN_RECORD


def run_chain(folder) -> tuple[list[dict], list[str]]:
    """``(runs, shipped)``: every run behind ``folder`` in the order to re-run them (each folder's ancestors
    first, each folder once), and the shipped ``data/`` folders the chain starts from.

    Raises ``FileNotFoundError`` naming the folder whose ``RUN.json`` is missing (not made by ``labkit train``?)."""
    from . import DATA_DIR, PROJECT_ROOT

    runs, shipped, seen = [], [], set()

    def visit(path: Path) -> None:
        path = (PROJECT_ROOT / path if not path.is_absolute() else path).resolve()
        if path in seen:
            return
        seen.add(path)
        if DATA_DIR.resolve() in path.parents:
            shipped.append(_project_relative(path))
            return
        own = read_runs(path)
        if not own:
            raise FileNotFoundError(f"expected {path / RUN_RECORD} (written by `labkit train`), found none: "
                                    "a chain can only be shipped when every run in it left its record")
        for run in own:
            for parent in run.get("builds_on", []):
                visit(Path(parent))
        runs.extend(own)

    visit(Path(folder))
    return runs, shipped


def chain_command(runs: list[dict], ship_step: str = "") -> str:
    """The chain's commands joined by ``&&`` (and the final ``ship_step``), as ``data/MANIFEST`` records them."""
    return " && ".join([r["command"] for r in runs] + ([ship_step] if ship_step else []))


def ship_chain(src, dest, extra: dict | None = None, below_bars_ok: bool = False) -> Path:
    """Ship ``src`` to ``dest`` (:func:`labkit.train.ship`: atomic, never over an existing folder) with the whole
    chain of runs behind it in ``PROVENANCE.json`` and ``data/MANIFEST``.

    A last run that measured itself against the issue's bars (``bars_problem`` in its record, e.g. ``labkit train
    t2v ... --eval 84``) is shipped only if it met them, or with ``below_bars_ok`` (as ``--ship-below-bars``);
    its ``eval``, ``bars_met`` and ``bars_problem`` go into ``PROVENANCE.json`` as the shipped model's verdict."""
    from .train import ship

    src, dest = Path(src), Path(dest)
    runs, shipped = run_chain(src)
    last = runs[-1]
    verdict = {}
    if "bars_problem" in last:
        if last["bars_problem"] and not below_bars_ok:
            raise ValueError(f"not shipping {src}: its last run missed the bars ({last['bars_problem']}); "
                             "--below-bars ships it anyway and records that")
        verdict = {"eval": last.get("eval"), "bars_met": not last["bars_problem"], "bars_problem": last["bars_problem"]}
    command = chain_command(runs, f"labkit ship {_project_relative(src)} {_project_relative(dest)}"
                            + (" --below-bars" if below_bars_ok else ""))
    seeds = ",".join(str(r["seed"]) for r in runs)
    seconds = sum(float(r["seconds"]) for r in runs)
    keep = ("command", "seed", "seconds", "hardware", "created", "note")
    info = {"builds_on_shipped": shipped, "runs": [{k: r[k] for k in keep if k in r} for r in runs], **verdict,
            **(extra or {})}
    hardware = sorted({r["hardware"] for r in runs})
    return ship(src, dest, command, seeds, seconds, info, hardware=" | ".join(hardware),
                ignore=(RUN_RECORD, "training_state"))  # a t2v/i2v run's resumable state is not shipped


def main(argv: list[str] | None = None) -> int:
    """``labkit ship SRC DEST``: ship a trained folder and the chain of runs behind it."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="labkit ship", description=main.__doc__.split(": ", 1)[1])
    parser.add_argument("src", type=Path, help="a folder written by `labkit train ... --out SRC`")
    parser.add_argument("dest", type=Path, help="where to ship it, e.g. data/models/NAME (never overwritten)")
    parser.add_argument("--below-bars", action="store_true",
                        help="ship even if the last run's evaluation missed the issue's bars (recorded in PROVENANCE)")
    args = parser.parse_args(argv)
    try:
        out = ship_chain(args.src, args.dest, below_bars_ok=args.below_bars)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"labkit ship: {err}", file=sys.stderr)
        return 1
    runs = json.loads((out / "PROVENANCE.json").read_text())["runs"]
    print(f"shipped {args.src} -> {out} ({len(runs)} runs; last: {runs[-1]['command']})")
    return 0
