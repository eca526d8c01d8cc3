"""Shipping a trained folder into ``data/``: atomic, never overwriting, with its provenance (``labkit ship``).

Taught nowhere (it is the kit's bookkeeping); used by the trainer shell's ``--ship`` and by ``labkit ship SRC DEST``.

- :func:`ship` moves a finished model folder to ``dest`` through a temporary sibling and one ``os.replace`` (never a
  half-written folder), refuses an existing ``dest``, writes ``PROVENANCE.json`` (command, seed, seconds, hardware
  and the run's summary) beside the weights and, inside ``data/``, adds every file to ``data/MANIFEST`` with its
  sha256 (:mod:`labkit.shipping.manifest`);
- ``replace=REASON`` (``--replace REASON``) replaces a shipped folder inside ``data/`` on purpose: the new folder is
  built beside it and swapped in (:func:`swap_in`; the old one is removed only after the swap), its old
  ``data/MANIFEST`` lines give way to the new ones, and ``PROVENANCE.json`` records
  ``"replaces": {"reason": REASON, "old_sha256": {file: sha256}}`` so the record says why and what went;
- :func:`ship_checked` is a trainer's ``--ship``: it ships only when the model's bars are met or shipping below
  them is allowed, and records ``bars_met`` / ``bars_problem``;
- :func:`ship_chain` (``labkit ship SRC DEST``, :func:`main`) ships a folder made by several runs with the whole
  chain behind it (:func:`labkit.shipping.records.run_chain`): the commands joined by ``&&``, the seed and seconds
  of each run; a last run that missed its bars ships only with ``--below-bars``. ``training_state/`` and
  ``RUN.json`` are never shipped. :func:`main` checks its arguments first (:func:`check_arguments`: ``SRC`` a run
  folder outside ``data/``, ``DEST`` inside it) and takes an ``after_ship`` callback for what a higher layer adds to a
  shipped folder (``labkit ship`` passes :func:`labkit.models.cards.add_card`: a pipeline's model card).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from labkit import DATA_DIR
from labkit.checks import ArgumentParser, check_folder, check_out, inside
from labkit.shipping.manifest import add_files, hardware_description, read_manifest
from labkit.shipping.records import RUN_RECORD, chain_command, project_relative, run_chain

__all__ = ["check_replace", "swap_in", "ship", "ship_checked", "ship_chain", "check_arguments", "main"]


def _inside_data(path: Path) -> bool:
    return inside(path, DATA_DIR)


def check_replace(dest: Path, replace: str | None) -> dict | None:
    """Check ``dest`` before shipping: without ``replace`` it must not exist; with it (the reason) it must be a
    shipped folder inside ``data/``. Returns ``{"reason": ..., "old_sha256": {file: sha256}}`` (the old files'
    hashes from ``data/MANIFEST``, relative to ``dest``) when replacing, else ``None``."""
    if replace is None:
        if dest.exists():
            raise FileExistsError(f"{dest} exists; refusing to overwrite shipped files (choose another --out, or "
                                  "--replace REASON to replace it on purpose)")
        return None
    if not replace.strip():
        raise ValueError("--replace needs a reason (it is recorded in PROVENANCE.json), e.g. --replace 'retrained "
                         "on world v2'")
    if not dest.is_dir():
        raise FileNotFoundError(f"--replace: {dest} does not exist; nothing to replace (ship without --replace)")
    if not _inside_data(dest):
        raise ValueError(f"--replace: expected a shipped folder inside {DATA_DIR}, got {dest}")
    prefix = str(dest.resolve().relative_to(DATA_DIR.resolve())) + "/"
    old = {p[len(prefix):]: e.sha256 for p, e in read_manifest(DATA_DIR / "MANIFEST").items() if p.startswith(prefix)}
    return {"reason": replace.strip(), "old_sha256": old}


def swap_in(new: Path, dest: Path) -> None:
    """Put the folder ``new`` (a sibling of ``dest``) at ``dest`` with ``os.replace``: an existing ``dest`` is moved
    aside first, put back if the swap fails, and removed only after it succeeded."""
    if not dest.exists():
        os.replace(new, dest)
        return
    aside = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-old-"))
    os.replace(dest, aside)  # onto an empty folder: allowed by rename(2)
    try:
        os.replace(new, dest)
    except BaseException:
        os.replace(aside, dest)
        raise
    shutil.rmtree(aside)


def ship(src: Path, dest: Path, command: str, seed, seconds: float, extra: dict | None = None,
         hardware: str | None = None, ignore: tuple[str, ...] = (), replace: str | None = None) -> Path:
    """Move a finished model folder ``src`` to ``dest`` atomically; refuse to overwrite an existing ``dest``
    unless ``replace`` gives the reason (:func:`check_replace`, recorded in ``PROVENANCE.json`` as ``replaces``).

    When ``dest`` lies inside ``data/``, its files are added to ``data/MANIFEST`` with the provenance (replacing
    the old folder's lines), and a ``PROVENANCE.json`` is written beside the weights. ``hardware``: where it ran
    (default: this machine); ``ignore``: glob patterns of files in ``src`` not to ship.
    """

    src, dest = Path(src), Path(dest)
    replaces = check_replace(dest, replace)
    hardware = hardware or hardware_description()
    info = {"command": command, "seed": seed, "seconds": round(seconds, 1), "hardware": hardware, **(extra or {}),
            **({"replaces": replaces} if replaces else {})}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-"))
    try:
        shutil.copytree(src, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*ignore))
        (tmp / "PROVENANCE.json").write_text(json.dumps(info, indent=2) + "\n")
        swap_in(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if _inside_data(dest):
        add_files(dest, command, seed, seconds, hardware, replace=replaces is not None)
    return dest


def ship_checked(out: Path, dest: Path, problem: str, below_bars_ok: bool, command: str, seed, seconds: float,
                 summary: dict, ignore: tuple[str, ...] = (), replace: str | None = None) -> int:
    """A trainer CLI's ``--ship``: :func:`ship` a copy of the run folder ``out`` (less the ``ignore`` glob
    patterns) to ``dest`` if the model's bars are met (``problem`` empty) or ``below_bars_ok``
    (``--below-bars`` with a full evaluation), recording ``bars_met`` / ``bars_problem`` in ``summary``
    (so in ``PROVENANCE.json``); ``replace``: the reason to replace an existing ``dest`` (:func:`ship`).
    Returns the exit code: 1, with the reason on stderr, when nothing is shipped."""
    if problem and not below_bars_ok:
        print(f"not shipping to {dest}: {problem}", file=sys.stderr)
        return 1
    summary["bars_met"], summary["bars_problem"] = not problem, problem
    if problem:
        print(f"shipping to {dest} BELOW the bars (--ship-below-bars): {problem}", file=sys.stderr)
    clean = Path(out).with_name(Path(out).name + "-ship")
    shutil.rmtree(clean, ignore_errors=True)
    shutil.copytree(out, clean, ignore=shutil.ignore_patterns(*ignore))
    ship(clean, dest, command, seed, seconds, summary, replace=replace)
    return 0


def ship_chain(src, dest, extra: dict | None = None, below_bars_ok: bool = False, replace: str | None = None) -> Path:
    """Ship ``src`` to ``dest`` (:func:`ship`: atomic, never over an existing folder unless ``replace`` gives the
    reason) with the whole chain of runs behind it in ``PROVENANCE.json`` and ``data/MANIFEST``.

    A last run that measured itself against its model's bars (``bars_problem`` in its record, e.g. ``labkit train
    t2v ... --eval 84``) is shipped only if it met them, or with ``below_bars_ok`` (``--below-bars``);
    its ``eval``, ``bars_met`` and ``bars_problem`` go into ``PROVENANCE.json`` as the shipped model's verdict."""

    src, dest = Path(src), Path(dest)
    check_replace(dest, replace)  # before following the chain: a wrong destination is the likelier mistake
    runs, shipped = run_chain(src)
    last = runs[-1]
    verdict = {}
    if "bars_problem" in last:
        if last["bars_problem"] and not below_bars_ok:
            raise ValueError(f"not shipping {src}: its last run missed the bars ({last['bars_problem']}); "
                             "--below-bars ships it anyway and records that")
        verdict = {"eval": last.get("eval"), "bars_met": not last["bars_problem"], "bars_problem": last["bars_problem"]}
    command = chain_command(runs, f"labkit ship {project_relative(src)} {project_relative(dest)}"
                            + (" --below-bars" if below_bars_ok else "")
                            + (f" --replace {shlex.quote(replace)}" if replace is not None else ""))
    seeds = ",".join(str(r["seed"]) for r in runs)
    seconds = sum(float(r["seconds"]) for r in runs)
    keep = ("command", "seed", "seconds", "hardware", "created", "note")
    info = {"builds_on_shipped": shipped, "runs": [{k: r[k] for k in keep if k in r} for r in runs], **verdict,
            **(extra or {})}
    hardware = sorted({r["hardware"] for r in runs})
    return ship(src, dest, command, seeds, seconds, info, hardware=" | ".join(hardware), replace=replace,
                ignore=(RUN_RECORD, "training_state"))  # a t2v/i2v run's resumable state is not shipped


def check_arguments(src, dest, replace: str | None = None) -> None:
    """``labkit ship``'s arguments, before anything is read or written: ``src`` a run folder with its
    ``RUN.json`` outside ``data/``, ``dest`` a folder inside ``data/`` that :func:`check_replace` allows."""
    check_folder(src, "SRC", RUN_RECORD, what="run folder")
    if inside(src, DATA_DIR):
        raise ValueError(f"SRC: expected a run folder outside {DATA_DIR} (it is already shipped), got {src}")
    check_out(dest, "DEST", allow_data=True)
    if not inside(dest, DATA_DIR):
        raise ValueError(f"DEST: expected a folder inside {DATA_DIR} (labkit ship ships into data/), got {dest}")
    if inside(dest, src) or Path(dest).resolve() == Path(src).resolve():
        raise ValueError(f"DEST: expected a folder outside SRC, got {dest} inside {src}")
    check_replace(Path(dest), replace)


def main(argv: list[str] | None = None, after_ship: Callable[[Path], object] | None = None) -> int:
    """``labkit ship SRC DEST [--replace REASON]``: ship a trained folder and the chain of runs behind it.

    ``after_ship(dest)`` runs once the folder is shipped (``labkit ship`` passes the model-card writer, which sits
    above this layer); if it raises ``FileNotFoundError`` or ``ValueError`` the folder stays shipped and the exit
    code is 1, with the error on stderr."""

    parser = ArgumentParser(prog="labkit ship", description=main.__doc__.split(": ", 1)[1].split("\n")[0])
    parser.add_argument("src", type=Path, help="a folder written by `labkit train ... --out SRC`")
    parser.add_argument("dest", type=Path, help="where to ship it, e.g. data/models/NAME (never overwritten, "
                                                "except with --replace)")
    parser.add_argument("--below-bars", action="store_true",
                        help="ship even if the last run's evaluation missed the issue's bars (recorded in PROVENANCE)")
    parser.add_argument("--replace", metavar="REASON", default=None,
                        help="replace the shipped folder DEST, recording REASON and the old files' sha256 in "
                             "PROVENANCE.json")
    args = parser.parse_args(argv)
    try:
        check_arguments(args.src, args.dest, args.replace)
    except (FileNotFoundError, FileExistsError, TypeError, ValueError) as err:
        print(f"labkit ship: {err}", file=sys.stderr)
        return 2
    try:
        out = ship_chain(args.src, args.dest, below_bars_ok=args.below_bars, replace=args.replace)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"labkit ship: {err}", file=sys.stderr)
        return 1
    if after_ship is not None:
        try:
            after_ship(out)
        except (FileNotFoundError, ValueError) as err:
            print(f"labkit ship: shipped {args.src} -> {out}, but what follows shipping failed: {err}",
                  file=sys.stderr)
            return 1
    runs = json.loads((out / "PROVENANCE.json").read_text())["runs"]
    print(f"shipped {args.src} -> {out} ({len(runs)} runs; last: {runs[-1]['command']})")
    return 0
