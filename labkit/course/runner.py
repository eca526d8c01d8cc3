"""``labkit run``: execute the course notebooks headless with papermill and write the course report.

Each notebook runs in a fresh ``python3`` kernel of the current environment with its working directory in
``notebooks/``, connected over private sockets (:func:`private_kernel_config`), so kernels started at the same
time by several processes (``labkit sweep --executor dask``) never race for ports. The runner

1. validates the ``-p NAME VALUE`` parameters against each notebook's annotated parameters cell (before
   anything runs),
2. executes with a per-cell timeout and a progress bar, sampling the kernel's memory to find its peak,
3. writes ``outputs/NN_topic.ipynb`` (executed), ``outputs/NN_topic/`` (the notebook's videos and records),
4. writes ``outputs/report.md`` and ``outputs/report.html`` (status, time, peak memory, key numbers, videos),
5. exits non-zero naming the failing notebook, cell and error.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import papermill
from papermill.exceptions import PapermillExecutionError
from traitlets.config import Config

from labkit import NOTEBOOKS_DIR, OUTPUTS_DIR
from labkit.checks import check_args, check_out
from labkit.course.nbtools import find_notebooks, resolve_parameters
from labkit.course.record import read_records
from labkit.profiling import PeakRSS

__all__ = ["VIDEO_SUFFIXES", "NotebookResult", "find_notebooks", "resolve_parameters", "private_kernel_config",
           "run_notebook", "run_course", "format_summary", "write_report"]


VIDEO_SUFFIXES = (".mp4", ".gif")


@dataclass
class NotebookResult:
    name: str
    status: str  # "ok" or "failed"
    seconds: float
    peak_rss_mb: float
    output: Path
    artifacts: Path
    parameters: dict = field(default_factory=dict)
    records: list = field(default_factory=list)
    error: str = ""

    @property
    def videos(self) -> list[Path]:
        return sorted(p for p in self.artifacts.glob("*") if p.suffix in VIDEO_SUFFIXES)


def _describe_error(err: Exception) -> str:

    if isinstance(err, PapermillExecutionError):
        source = err.source.strip().splitlines()
        first = source[0] if source else ""
        return f"cell {err.cell_index} (`{first[:80]}`): {err.ename}: {err.evalue}"
    return f"{type(err).__name__}: {err}"


def _prefer_this_environment_kernel() -> None:
    """Put this environment's kernelspecs first, so kernel ``python3`` is this Python, not a user-level one."""

    here = str(Path(sys.prefix) / "share" / "jupyter")
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if here not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([here, *paths])


def private_kernel_config(folder) -> Config:
    """The kernel manager's configuration for a kernel that talks over Unix sockets in ``folder`` (its own).

    Over TCP, jupyter_client chooses a kernel's five ports by binding port 0 and closing the socket, writes them
    to the connection file, and the kernel binds them a moment later. A kernel started by another process in that
    gap can be handed the same ports, and one of the two dies with ``zmq.error.ZMQError: Address already in use``
    (papermill#511, jupyter_client#487). jupyter_client's ``LocalPortCache`` only keeps apart the kernels of one
    process, and the workers of a sweep are separate processes. Over ``ipc`` the five "ports" are socket files
    ``folder/kernel-1`` ... ``kernel-5``: a fresh folder per kernel is a name space no other process allocates
    from, so there is nothing to race for, and no TCP port is opened. Windows has no ``ipc`` transport: there the
    kernel keeps TCP (and the race, rare with one kernel at a time).
    """
    if os.name != "posix":
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": str(Path(folder) / "kernel")}})


#: run_notebook sets this process's environment for the kernel and samples this process's children: one notebook at
#: a time per process (a Dask worker with several threads runs its sweep jobs one after another).
_ONE_NOTEBOOK_AT_A_TIME = threading.Lock()


def run_notebook(notebook: Path, parameters: dict, out_dir=None, cell_timeout: int = 900,
                 progress: bool = True, kernel: str = "python3") -> NotebookResult:
    """Execute one notebook with papermill into ``out_dir``; never raises for a failing cell."""
    with _ONE_NOTEBOOK_AT_A_TIME:
        return _run_notebook(Path(notebook), parameters, out_dir, cell_timeout, progress, kernel)


def _run_notebook(notebook: Path, parameters: dict, out_dir, cell_timeout: int, progress: bool,
                  kernel: str) -> NotebookResult:
    out_dir = Path(out_dir or OUTPUTS_DIR)
    artifacts = out_dir / notebook.stem
    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.glob("*"):  # a re-run replaces the notebook's previous artifacts
        if old.is_file():
            old.unlink()
    records_file = artifacts / "records.jsonl"
    env = {"LABKIT_OUTPUT_DIR": str(artifacts.resolve()), "LABKIT_RECORD_FILE": str(records_file.resolve())}
    saved = {k: os.environ.get(k) for k in (*env, "HF_HUB_OFFLINE", "JUPYTER_PATH")}
    os.environ.update(env)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # offline is the default; set HF_HUB_OFFLINE=0 to allow the hub
    _prefer_this_environment_kernel()
    output = out_dir / notebook.name
    status, error = "ok", ""
    sockets = tempfile.mkdtemp(prefix="labkit-kernel-")  # short: a Unix socket path has at most 107 bytes
    t0 = time.perf_counter()
    try:
        with PeakRSS(interval=0.2, children=True) as mem:  # the kernel's anonymous resident memory
            papermill.execute_notebook(
                str(notebook), str(output), parameters=parameters, kernel_name=kernel,
                cwd=str(notebook.parent), execution_timeout=cell_timeout, progress_bar=progress,
                log_output=False, request_save_on_cell_execute=False, config=private_kernel_config(sockets),
            )
    except Exception as err:  # noqa: BLE001 - a failing notebook is a result, reported below
        status, error = "failed", _describe_error(err)
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - t0
    _export_html(output)
    return NotebookResult(notebook.stem, status, seconds, mem.peak / 2**20, output, artifacts,
                          parameters, read_records(records_file), error)


def _export_html(executed: Path) -> None:
    """Save an HTML rendering beside the executed notebook (what the report links to); best effort."""
    if not executed.exists():
        return
    try:
        import nbformat  # lazy: HTML export is optional (best effort)
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
        executed.with_suffix(".html").write_text(body, encoding="utf-8")
    except Exception as err:  # noqa: BLE001 - the .ipynb is still there; the report links to it instead
        print(f"  (no HTML rendering of {executed.name}: {err})")


def run_course(names=None, parameters: dict | None = None, smoke: bool = False, out_dir=None,
               cell_timeout: int = 900, progress: bool = True) -> list[NotebookResult]:
    """Validate everything first, then run the notebooks in order and write the report."""
    out_dir = check_out(out_dir or OUTPUTS_DIR, "out_dir").resolve()
    check_args(cell_timeout=cell_timeout)
    notebooks = find_notebooks(names)
    if not notebooks:
        raise ValueError(f"no notebooks found in {NOTEBOOKS_DIR}")
    resolved = resolve_parameters(notebooks, parameters or {}, smoke)
    results = []
    for nb in notebooks:
        print(f"▶ {nb.stem} {json.dumps(resolved[nb]) if resolved[nb] else ''}", flush=True)
        result = run_notebook(nb, resolved[nb], out_dir, cell_timeout, progress)
        print(f"  {result.status} in {result.seconds:.1f} s, peak {result.peak_rss_mb:.0f} MiB"
              + (f"\n  {result.error}" if result.error else ""), flush=True)
        results.append(result)
    write_report(results, out_dir)
    return results


def format_summary(results: list[NotebookResult]) -> str:
    """A plain-text table: notebook, status, seconds, peak memory, number of key numbers."""
    rows = [("notebook", "status", "time (s)", "peak mem (MiB)", "key numbers")]
    rows += [(r.name, r.status, f"{r.seconds:.1f}", f"{r.peak_rss_mb:.0f}", str(len(r.records))) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = sum(r.seconds for r in results)
    lines.append(f"{sum(r.status == 'ok' for r in results)}/{len(results)} notebooks ok, {total:.1f} s in all")
    return "\n".join(lines)


def _rel(path: Path, base: Path) -> str:
    return os.path.relpath(Path(path).resolve(), Path(base).resolve())


def _value(record: dict) -> str:
    value = record["value"]
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{text} {record.get('unit', '')}".strip()


def _markdown(results: list[NotebookResult], out_dir: Path) -> str:
    lines = ["# Video Diffusion Lab — course report", "",
             "| notebook | status | time (s) | peak memory (MiB) | parameters |", "|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| [{r.name}]({_rel(r.output, out_dir)}) | {r.status} | {r.seconds:.1f} | "
                     f"{r.peak_rss_mb:.0f} | `{json.dumps(r.parameters)}` |")
    for r in results:
        lines += ["", f"## {r.name}", ""]
        if r.error:
            lines += [f"**Failed:** {r.error}", ""]
        if r.records:
            lines += ["| key number | value | measured on |", "|---|---|---|"]
            lines += [f"| {rec['key']} | {_value(rec)} | {rec.get('note', '')} |" for rec in r.records]
        else:
            lines.append("No key numbers recorded.")
        if r.videos:
            lines += ["", "Videos: " + ", ".join(f"[{v.name}]({_rel(v, out_dir)})" for v in r.videos)]
    return "\n".join(lines) + "\n"


def _html(results: list[NotebookResult], out_dir: Path) -> str:
    esc = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Video Diffusion Lab report</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px}.failed{color:#b00}.ok{color:#070}"
             "video,img.clip{width:192px;image-rendering:pixelated;margin:4px}</style></head><body>",
             "<h1>Video Diffusion Lab — course report</h1><table><tr><th>notebook</th><th>status</th>"
             "<th>time (s)</th><th>peak memory (MiB)</th></tr>"]
    for r in results:
        page = r.output.with_suffix(".html") if r.output.with_suffix(".html").exists() else r.output
        parts.append(f"<tr><td><a href='{esc(_rel(page, out_dir))}'>{esc(r.name)}</a></td>"
                     f"<td class='{r.status}'>{r.status}</td><td>{r.seconds:.1f}</td><td>{r.peak_rss_mb:.0f}</td></tr>")
    parts.append("</table>")
    for r in results:
        parts.append(f"<h2>{esc(r.name)}</h2>")
        if r.error:
            parts.append(f"<p class='failed'>Failed: {esc(r.error)}</p>")
        if r.records:
            parts.append("<table><tr><th>key number</th><th>value</th><th>measured on</th></tr>")
            parts += [f"<tr><td>{esc(rec['key'])}</td><td>{esc(_value(rec))}</td><td>{esc(rec.get('note', ''))}</td></tr>"
                      for rec in r.records]
            parts.append("</table>")
        for v in r.videos:
            src = esc(str(_rel(v, out_dir)))
            tag = (f"<video src='{src}' autoplay loop muted playsinline controls></video>" if v.suffix == ".mp4"
                   else f"<img class='clip' src='{src}'>")
            parts.append(f"<figure style='display:inline-block'>{tag}<figcaption>{esc(v.stem)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(results: list[NotebookResult], out_dir=None) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir`` (atomically); returns both paths."""
    out_dir = Path(out_dir or OUTPUTS_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (("report.md", _markdown(results, out_dir)), ("report.html", _html(results, out_dir))):
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out_dir / name)
        paths.append(out_dir / name)
    return paths[0], paths[1]
