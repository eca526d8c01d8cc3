"""``labkit sweep``: one notebook over a grid of parameter values, run here or on a Dask cluster.

A sweep is a list of jobs, one per combination of the ``-p NAME V1,V2,...`` values, every combination checked
against the notebook's parameters cell before anything runs (:func:`check_sweep`). There is one sweep and two
executors, which differ only in where :func:`run_job` runs:

- ``local`` (the default): one job after another in this process;
- ``dask``: on ``dask.distributed`` workers: a ``LocalCluster`` of ``--workers`` single-threaded worker processes,
  or, with ``--scheduler ADDRESS``, the workers of a running scheduler (started elsewhere with
  ``dask scheduler`` and ``dask worker ADDRESS --nthreads 1``), so a grid outgrows one machine without a code
  change. Each worker needs this project installed and the notebook at the same path; the job's files come back
  to this process, so the output folder need not be shared. Dask's nanny starts workers with
  ``OMP_NUM_THREADS=1``, so parallel kernels do not fight over the cores.

Each job executes the notebook in its own fresh kernel (:func:`labkit.course.runner.run_notebook`, over private
sockets: no port races between parallel kernels) in a scratch folder, and hands back its files; the sweep writes
them into ``OUT/<job key>/`` with one rename (:func:`commit_job`), so a job folder exists only complete:

1. a job whose folder exists is finished and is not run again: a second run of the same sweep runs nothing
   (``--retry-failed`` runs the jobs whose notebook failed again; a job whose worker died left no folder);
2. a failed job is reported with its cell and error while the others run on, and the sweep exits non-zero;
3. ``OUT/sweep.csv`` has one row per job (its parameters, status, seconds, peak memory, error and key numbers);
   ``--plot KEY`` draws that key number against the swept parameters into ``OUT/sweep_KEY.png``.

Taught in README ("Parameters and sweeps"); each job's key numbers are the notebook's ``record(...)`` calls.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from labkit import OUTPUTS_DIR
from labkit.checks import check_args, check_choice, check_out
from labkit.course.nbtools import find_notebooks, resolve_parameters

__all__ = ["EXECUTORS", "Job", "SweepPlan", "SweepResult", "check_executor", "check_sweep", "run_job",
           "commit_job", "finished_job", "run_plan", "run_sweep", "write_csv", "plot_sweep"]

EXECUTORS = ("local", "dask")

#: Columns of ``sweep.csv`` after the parameters and before the key numbers.
RESULT_COLUMNS = ("status", "seconds", "peak_rss_mb", "worker", "error")


@dataclass(frozen=True)
class Job:
    params: dict  # the notebook's parameters, converted to their declared types (SMOKE too with --smoke)
    tag: str  # the swept values, "X=3_SEED=1"
    key: str  # the job's folder under OUT: its tag made safe for a file name and a hash of all its parameters


@dataclass(frozen=True)
class SweepPlan:
    notebook: Path
    names: list  # the swept parameters, in the order given
    jobs: list  # one Job per combination, the last parameter varying fastest
    out: Path
    executor: str = "local"
    scheduler: str | None = None
    workers: int | None = None


@dataclass
class SweepResult:
    plan: SweepPlan
    jobs: list  # one summary per job, in grid order: what OUT/<key>/job.json holds
    ran: list  # keys of the jobs run by this call (the rest had finished before)
    csv: Path
    plot: Path | None = None
    seconds: float = 0.0
    keys: list = field(default_factory=list)  # the key numbers the jobs recorded

    @property
    def failed(self) -> list[dict]:
        return [job for job in self.jobs if job["status"] != "ok"]


def _slug(text: str, limit: int = 60) -> str:
    return re.sub(r"[^A-Za-z0-9=._,+-]+", "-", text).strip("-")[:limit] or "job"


def _job(params: dict, names: list) -> Job:
    tag = "_".join(f"{name}={params[name]}" for name in names)
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return Job(params, tag, f"{_slug(tag)}-{digest}")


def check_executor(executor: str = "local", scheduler: str | None = None, workers: int | None = None) -> None:
    """``executor`` is one of :data:`EXECUTORS`; ``scheduler`` and ``workers`` go with ``dask`` only, and not
    together (a running scheduler has its own workers)."""
    check_choice(executor, "--executor", EXECUTORS, what="executor")
    check_args(workers=workers, allow_none=["workers"])
    if executor != "dask" and (scheduler is not None or workers is not None):
        flag = "--scheduler" if scheduler is not None else "--workers"
        raise ValueError(f"{flag}: only with --executor dask, got --executor {executor}")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise ValueError(f"--scheduler: expected a scheduler address such as tcp://HOST:8786, got {scheduler!r}")
    if scheduler is not None and workers is not None:
        raise ValueError(f"--workers: the cluster of --scheduler {scheduler} has its own workers; give one or "
                         "the other")


def check_sweep(notebook, grid: dict, smoke: bool = False, out=None, executor: str = "local",
                scheduler: str | None = None, workers: int | None = None) -> SweepPlan:
    """Check everything a sweep is given before any job runs, and return its plan.

    ``grid``: ``{NAME: "V1,V2,..."}`` (what ``-p NAME V1,V2`` gives) or ``{NAME: [V1, V2, ...]}``; every
    combination is converted and checked against ``notebook``'s parameters cell. ``out`` defaults to
    ``outputs/sweeps/NOTEBOOK``.
    """
    check_executor(executor, scheduler, workers)
    values = {name: text.split(",") if isinstance(text, str) else list(text) for name, text in (grid or {}).items()}
    if not values:
        raise ValueError("-p: expected at least one -p NAME V1,V2,..., got none")
    empty = [name for name, vals in values.items() if not vals or "" in vals]
    if empty:
        raise ValueError(f"-p: expected comma-separated values, got an empty value for {empty}")
    path = find_notebooks([notebook])[0]
    combos = [dict(zip(values, combo)) for combo in itertools.product(*values.values())]
    jobs = [_job(resolve_parameters([path], combo, smoke)[path], list(values)) for combo in combos]
    twins = sorted({job.tag for job in jobs if sum(j.key == job.key for j in jobs) > 1})
    if twins:
        raise ValueError(f"-p: expected distinct values, got the same job twice: {', '.join(twins)}")
    out = check_out(out or OUTPUTS_DIR / "sweeps" / path.stem).resolve()
    return SweepPlan(path, list(values), jobs, out, executor, scheduler, workers)


# ----------------------------------------------------------------------------------------------- one job, anywhere
def run_job(notebook: str, params: dict, cell_timeout: int = 900, progress: bool = False) -> dict:
    """Run one job in a scratch folder and hand back ``{"job": summary, "files": {relative path: bytes}}``.

    What a Dask worker runs (and the local executor, in this process): the summary is what ``job.json`` holds
    (parameters, status, seconds, peak memory, error, records, the worker and when it ran); the files are the
    executed notebook, its HTML page and its artifacts folder. Never raises for a failing cell.
    """
    from labkit.course.runner import run_notebook  # lazy: papermill and torch load only where a job runs

    started = time.time()
    with tempfile.TemporaryDirectory(prefix="labkit-job-") as scratch:
        result = run_notebook(Path(notebook), params, scratch, cell_timeout, progress)
        files = {p.relative_to(scratch).as_posix(): p.read_bytes()
                 for p in sorted(Path(scratch).rglob("*")) if p.is_file()}
    summary = {"notebook": result.name, "parameters": params, "status": result.status,
               "seconds": round(result.seconds, 2), "peak_rss_mb": round(result.peak_rss_mb),
               "worker": f"{socket.gethostname()}:{os.getpid()}", "error": result.error,
               "records": result.records, "started": started, "finished": time.time()}
    return {"job": summary, "files": files}


def _lost(job: Job, err: BaseException) -> dict:
    """The summary of a job that raised outside its notebook (a worker lost, a scheduler gone): not saved."""
    error = f"{type(err).__name__}: {err} (nothing saved: the job runs again next time)"
    return {"job": {"parameters": job.params, "status": "failed", "seconds": 0.0, "peak_rss_mb": 0, "worker": "",
                    "error": error, "records": []}, "files": None}


def commit_job(out: Path, job: Job, payload: dict) -> Path:
    """Write a job's files and ``job.json`` into ``out/<key>/`` atomically: all into a hidden folder, then one
    rename. A folder of the job from before (a failed run, run again) is replaced."""
    final, tmp = out / job.key, out / f".{job.key}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir(parents=True)
    for name, data in payload["files"].items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_bytes(data)
    (tmp / "job.json").write_text(json.dumps(payload["job"], indent=1), encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def finished_job(out: Path, job: Job) -> dict | None:
    """The summary of a job that finished before (its folder holds ``job.json`` and the executed notebook)."""
    folder = out / job.key
    if not (folder / "job.json").exists() or not any(folder.glob("*.ipynb")):
        return None
    return json.loads((folder / "job.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------------- the executors
def _run_here(plan: SweepPlan, jobs: list, cell_timeout: int, progress: bool) -> Iterator[tuple[Job, dict]]:
    for i, job in enumerate(jobs, 1):
        print(f"▶ [{i}/{len(jobs)}] {job.tag}", flush=True)
        try:
            yield job, run_job(str(plan.notebook), job.params, cell_timeout, progress)
        except Exception as err:  # noqa: BLE001 - reported as a failed job; the others run on
            yield job, _lost(job, err)


def _run_on_dask(plan: SweepPlan, jobs: list, cell_timeout: int) -> Iterator[tuple[Job, dict]]:
    """Submit every job at once; yield them as they finish. A ``LocalCluster`` of single-threaded worker processes
    unless ``plan.scheduler`` names a running one (reached within 10 s)."""
    from distributed import Client, LocalCluster, as_completed  # lazy: dask loads only for --executor dask

    with contextlib.ExitStack() as stack:
        if plan.scheduler is None:
            workers = plan.workers or max(1, min(len(jobs), os.cpu_count() or 1))
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
            where = f"a LocalCluster of {workers} worker processes"
        else:
            try:
                client = stack.enter_context(Client(plan.scheduler, timeout="10s"))
            except OSError as err:
                raise ValueError(f"--scheduler: could not reach {plan.scheduler}: {err}") from None
            where = f"the scheduler {plan.scheduler} ({len(client.scheduler_info()['workers'])} workers)"
        print(f"▶ {len(jobs)} jobs on {where}", flush=True)
        run = uuid.uuid4().hex[:8]
        futures = {client.submit(run_job, str(plan.notebook), job.params, cell_timeout, False,
                                 key=f"labkit-sweep-{job.key}-{run}", pure=False): job for job in jobs}
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as err:  # noqa: BLE001 - a lost worker fails its job; the others run on
                yield futures[future], _lost(futures[future], err)


# --------------------------------------------------------------------------------------------------------- a sweep
def _report(job: Job, summary: dict, n: int, total: int) -> None:
    mark = "✔" if summary["status"] == "ok" else "✘"
    where = f" on {summary['worker']}" if summary.get("worker") else ""
    print(f"  {mark} [{n}/{total}] {job.tag}: {summary['status']} in {summary['seconds']:.1f} s{where}"
          + (f"\n    {summary['error']}" if summary["error"] else ""), flush=True)


def run_plan(plan: SweepPlan, cell_timeout: int = 900, progress: bool = True, plot: str | None = None,
             retry_failed: bool = False) -> SweepResult:
    """Run the plan's unfinished jobs on its executor, then write ``sweep.csv`` (and the ``--plot`` figure)."""
    check_args(cell_timeout=cell_timeout)
    plan.out.mkdir(parents=True, exist_ok=True)
    for stale in plan.out.glob(".*.tmp"):  # a job interrupted while it was being written
        shutil.rmtree(stale, ignore_errors=True)
    done = {job.key: finished_job(plan.out, job) for job in plan.jobs}
    todo = [job for job in plan.jobs if done[job.key] is None or (retry_failed and done[job.key]["status"] != "ok")]
    print(f"sweep {plan.notebook.stem}: {len(plan.jobs)} jobs, {len(plan.jobs) - len(todo)} finished before, "
          f"{len(todo)} to run ({plan.executor} executor) -> {plan.out}", flush=True)
    t0 = time.perf_counter()
    if todo:
        runs = (_run_here(plan, todo, cell_timeout, progress) if plan.executor == "local"
                else _run_on_dask(plan, todo, cell_timeout))
        for n, (job, payload) in enumerate(runs, 1):
            if payload["files"] is not None:
                commit_job(plan.out, job, payload)
            done[job.key] = payload["job"]
            _report(job, payload["job"], n, len(todo))
    seconds = time.perf_counter() - t0
    summaries = [done[job.key] for job in plan.jobs]
    keys = list(dict.fromkeys(rec["key"] for s in summaries for rec in s["records"]))
    table = write_csv(plan, summaries, plan.out / "sweep.csv")
    result = SweepResult(plan, summaries, [job.key for job in todo], table, None, seconds, keys)
    if plot is not None:
        check_choice(plot, "--plot", keys, what="key number")
        result.plot = plot_sweep(plan, summaries, plot, plan.out / f"sweep_{_slug(plot, 80)}.png")
    return result


def run_sweep(notebook, grid: dict, smoke: bool = False, out=None, executor: str = "local",
              scheduler: str | None = None, workers: int | None = None, cell_timeout: int = 900,
              progress: bool = True, plot: str | None = None, retry_failed: bool = False) -> SweepResult:
    """:func:`check_sweep` then :func:`run_plan`: ``run_sweep("00_tour", {"SEED": "0,1,2"}, executor="dask")``.

    A script that starts a ``LocalCluster`` this way needs ``if __name__ == "__main__":`` around the call: its
    worker processes are spawned, and each imports the script's main module again (``labkit sweep`` has it).
    """
    check_args(cell_timeout=cell_timeout)
    plan = check_sweep(notebook, grid, smoke, out, executor, scheduler, workers)
    return run_plan(plan, cell_timeout, progress, plot, retry_failed)


# -------------------------------------------------------------------------------------------------- table and plot
def _write_atomic(path: Path, write) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)
    return path


def write_csv(plan: SweepPlan, summaries: list[dict], path: Path) -> Path:
    """One row per job: its parameters, :data:`RESULT_COLUMNS`, then every key number recorded (last value)."""
    rows = [{**s["parameters"], **{c: s.get(c, "") for c in RESULT_COLUMNS},
             **{rec["key"]: rec["value"] for rec in s["records"]}} for s in summaries]
    columns = list(dict.fromkeys([*plan.names, *(k for row in rows for k in row)]))

    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)

    return _write_atomic(path, write)


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if isinstance(value, bool) else number


def plot_sweep(plan: SweepPlan, summaries: list[dict], key: str, path: Path) -> Path:
    """The key number ``key`` of the finished jobs against the first swept parameter, one line per combination
    of the others; a failed job's value of that parameter is a red dotted line. Saved as a PNG at ``path``."""
    from matplotlib.figure import Figure  # lazy: matplotlib loads only to plot

    x_name, others = plan.names[0], plan.names[1:]
    ok = [s for s in summaries if s["status"] == "ok"]
    values = {id(s): {rec["key"]: rec for rec in s["records"]}.get(key) for s in ok}
    ok = [s for s in ok if values[id(s)] is not None and _number(values[id(s)]["value"]) is not None]
    if not ok:
        raise ValueError(f"--plot: expected a key number recorded as a number, got no numeric values of {key!r}")
    xs = list(dict.fromkeys(s["parameters"][x_name] for s in summaries))
    numeric = all(_number(x) is not None for x in xs)
    fig = Figure(figsize=(5.5, 3.5), layout="constrained")
    ax = fig.add_subplot()
    for rest in dict.fromkeys(tuple(s["parameters"][n] for n in others) for s in ok):
        points = [(s["parameters"][x_name], _number(values[id(s)]["value"])) for s in ok
                  if tuple(s["parameters"][n] for n in others) == rest]
        ax.plot([x if numeric else xs.index(x) for x, _ in points], [y for _, y in points], marker="o",
                label=", ".join(f"{n}={v}" for n, v in zip(others, rest)) or None)
    failed = [s["parameters"][x_name] for s in summaries if s["status"] != "ok"]
    for x in dict.fromkeys(failed):
        ax.axvline(x if numeric else xs.index(x), color="tab:red", linestyle=":", linewidth=1)
    if not numeric:
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    unit = values[id(ok[0])].get("unit", "")
    ax.set_xlabel(x_name)
    ax.set_ylabel(f"{key} ({unit})" if unit else key)
    ax.set_title(f"{plan.notebook.stem}: {key}" + (f" ({len(failed)} failed job(s): red dotted)" if failed else ""),
                 fontsize="medium")
    if others:
        ax.legend(fontsize="small")
    return _write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
