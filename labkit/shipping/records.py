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

from labkit import DATA_DIR, PROJECT_ROOT
from labkit.shipping.manifest import hardware_description

__all__ = ["RUN_RECORD", "read_runs", "write_run_record", "run_chain", "chain_command"]


RUN_RECORD = "RUN.json"


def project_relative(path) -> str:
    """``path`` relative to the project root when it lies inside it (commands are run from there), else absolute."""

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

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"expected the run's output folder, got {folder} (not a folder)")
    own = folder.resolve()
    parents = [project_relative(p) for p in builds_on if p is not None and Path(p).resolve() != own]
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

    runs, shipped, seen = [], [], set()

    def visit(path: Path) -> None:
        path = (PROJECT_ROOT / path if not path.is_absolute() else path).resolve()
        if path in seen:
            return
        seen.add(path)
        if DATA_DIR.resolve() in path.parents:
            shipped.append(project_relative(path))
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
