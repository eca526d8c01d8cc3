"""labkit.course.sweep on a tiny purpose-made notebook: 4 jobs on a 2-worker LocalCluster and on the local executor
(each job a real kernel that waits SLEEP seconds), the failing job reported while the others finish, a second run
that runs nothing, the table, the plot and the measured speed-up of 2 workers over the local executor."""

import csv
import json
import os
import re
import subprocess
import sys
import time

import nbformat
import pytest

from labkit.course import cli, sweep

PARAMETERS = ("X: int = 1  # the swept value\n"
              "SLEEP: float = 0.0  # seconds each job waits (what parallel workers overlap)\n"
              "SMOKE: bool = False  # tiny settings")
CELLS = [
    "import time\ntime.sleep(SLEEP)",
    "if X == 3:\n    raise RuntimeError(f'X == {X} is the deliberately failing job')",
    "from labkit.course.record import record\nrecord('X squared', X * X, 'units^2', 'the sweep test notebook')",
]
GRID = {"X": "1,2,3,4", "SLEEP": "3"}  # 4 jobs of >= 3 s each; X=3 fails after its wait
FAILED = re.compile(r"cell \d+ \(`if X == 3:`\): RuntimeError: X == 3 is the deliberately failing job")
TIMING = {"seconds", "peak_rss_mb", "worker"}  # columns that differ from run to run


def _write_notebook(path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(c) for c in CELLS)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _stamps(out) -> dict:
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/job.json")}


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    return _write_notebook(tmp_path_factory.mktemp("sweep_nb") / "tiny_sweep.ipynb")


def _labkit_sweep(notebook, out, *flags) -> tuple[subprocess.CompletedProcess, float]:
    """``labkit sweep`` on the 4-job grid in a fresh process (as a learner runs it), timed whole: start-up,
    imports, cluster, jobs, table and plot."""
    argv = [sys.executable, "-m", "labkit.course.cli", "sweep", str(notebook), "-p", "X", GRID["X"],
            "-p", "SLEEP", GRID["SLEEP"], "--plot", "X squared", "--out", str(out), "--cell-timeout", "120",
            "--no-progress", *flags]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=400)
    return proc, time.perf_counter() - t0


def _jobs(out) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("*/job.json"))]


def _span(jobs: list[dict]) -> float:
    """Seconds from the first job's start to the last job's end."""
    return max(job["finished"] for job in jobs) - min(job["started"] for job in jobs)


@pytest.fixture(scope="module")
def dask_run(notebook, tmp_path_factory):
    """The 4-job sweep on the default LocalCluster(n_workers=2, threads_per_worker=1, processes=True)."""
    out = tmp_path_factory.mktemp("dask")
    return (*_labkit_sweep(notebook, out, "--executor", "dask", "--workers", "2"), out)


@pytest.fixture(scope="module")
def local_run(notebook, dask_run, tmp_path_factory):
    """The same sweep on the local executor (after the cluster above is closed)."""
    out = tmp_path_factory.mktemp("local")
    return (*_labkit_sweep(notebook, out), out)


@pytest.mark.slow  # 4 kernels on 2 workers, each job >= 3 s: ~30 s (the fixture is shared by the tests below)
def test_dask_sweep_writes_table_and_plot_and_reports_the_failing_job(dask_run, notebook):
    proc, _, out = dask_run
    assert proc.returncode == 1, proc.stderr
    assert "4 jobs on a LocalCluster of 2 worker processes" in proc.stdout and "3/4 jobs ok, 4 run now" in proc.stdout
    assert "FAILED X=3_SLEEP=3.0: " in proc.stderr and FAILED.search(proc.stderr), proc.stderr
    rows = {row["X"]: row for row in _rows(out / "sweep.csv")}
    assert {x: row["status"] for x, row in rows.items()} == {"1": "ok", "2": "ok", "3": "failed", "4": "ok"}
    assert {x: row["X squared"] for x, row in rows.items() if x != "3"} == {"1": "1", "2": "4", "4": "16"}
    assert rows["3"]["X squared"] == "" and FAILED.search(rows["3"]["error"]), rows["3"]["error"]
    png = (out / "sweep_X-squared.png").read_bytes()
    assert f"plot: {out / 'sweep_X-squared.png'}" in proc.stdout
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    for job in sweep.check_sweep(notebook, GRID, out=out).jobs:  # each job folder whole: notebook, records, job.json
        folder = out / job.key
        assert (folder / "tiny_sweep.ipynb").exists() and (folder / "job.json").exists()
        assert (folder / "tiny_sweep" / "records.jsonl").exists() == (job.params["X"] != 3)
    assert not list(out.glob(".*.tmp"))


@pytest.mark.slow  # shares the fixture above
def test_dask_jobs_run_at_once_on_two_worker_processes(dask_run):
    jobs = _jobs(dask_run[2])
    assert len(jobs) == 4 and len({job["worker"] for job in jobs}) == 2
    overlapping = [(a["parameters"]["X"], b["parameters"]["X"]) for a in jobs for b in jobs
                   if a["worker"] != b["worker"] and a["started"] < b["finished"] and b["started"] < a["finished"]]
    assert overlapping, [(job["worker"], job["started"], job["finished"]) for job in jobs]


@pytest.mark.slow  # shares the fixture above
def test_second_run_of_the_same_sweep_runs_nothing_new(dask_run, notebook):
    out = dask_run[2]
    stamps, table = _stamps(out), _rows(out / "sweep.csv")
    again = sweep.run_sweep(notebook, GRID, out=out, executor="dask", workers=2, progress=False, plot="X squared")
    assert again.ran == [] and again.seconds < 1.0  # no job, and no cluster started
    assert _stamps(out) == stamps and len(stamps) == 4
    assert _rows(again.csv) == table and len(again.failed) == 1 and again.keys == ["X squared"]


@pytest.mark.slow  # 4 kernels one after another, each job >= 3 s: ~30 s
def test_local_executor_gives_the_same_table(dask_run, local_run):
    assert local_run[0].returncode == 1 and "3/4 jobs ok, 4 run now" in local_run[0].stdout
    assert FAILED.search(local_run[0].stderr), local_run[0].stderr
    strip = [{k: v for k, v in row.items() if k not in TIMING} for row in _rows(dask_run[2] / "sweep.csv")]
    assert [{k: v for k, v in row.items() if k not in TIMING} for row in _rows(local_run[2] / "sweep.csv")] == strip
    assert len({job["worker"] for job in _jobs(local_run[2])}) == 1  # one process, one job after another
    assert (local_run[2] / "sweep_X-squared.png").exists()


@pytest.mark.slow  # shares the two fixtures above
def test_two_dask_workers_against_the_local_executor(dask_run, local_run):
    """Whole command (start-up, imports, cluster, jobs) and the jobs alone (first start to last end)."""
    (_, dask_seconds, dask_out), (_, local_seconds, local_out) = dask_run, local_run
    dask_jobs, local_jobs = _span(_jobs(dask_out)), _span(_jobs(local_out))
    print(f"\n4-job sweep, each job waiting 3 s, {os.cpu_count()} cores: local executor {local_seconds:.1f} s, "
          f"dask LocalCluster of 2 workers {dask_seconds:.1f} s -> speed-up {local_seconds / dask_seconds:.2f}x "
          f"(whole command); jobs alone {local_jobs:.1f} s vs {dask_jobs:.1f} s -> {local_jobs / dask_jobs:.2f}x")
    # two jobs at a time: the 3 s waits of two pairs overlap (4.7-7.2 s saved here with both cores busy elsewhere);
    # run one after another, the jobs alone would take at least as long as the local executor's
    assert dask_jobs < local_jobs - 1.5


@pytest.mark.slow  # one kernel, the failing job again: ~6 s
def test_retry_failed_runs_only_the_failed_job(local_run, notebook):
    out = local_run[2]
    stamps = _stamps(out)
    again = sweep.run_sweep(notebook, GRID, out=out, progress=False, retry_failed=True)
    failed_key = [job.key for job in again.plan.jobs if job.params["X"] == 3]
    assert again.ran == failed_key and len(again.failed) == 1 and FAILED.search(again.failed[0]["error"])
    changed = {key for key, stamp in _stamps(out).items() if stamps[key] != stamp}
    assert changed == set(failed_key)


@pytest.mark.slow  # a LocalCluster started here, 2 kernels on it: ~10 s
def test_cli_sweep_on_a_running_scheduler(notebook, tmp_path, capsys):
    from distributed import LocalCluster

    out = tmp_path / "out"
    argv = ["sweep", str(notebook), "-p", "X", "2,3", "--executor", "dask", "--plot", "X squared",
            "--out", str(out), "--no-progress"]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        assert cli.main([*argv, "--scheduler", cluster.scheduler_address]) == 1
    captured = capsys.readouterr()
    assert f"2 jobs on the scheduler {cluster.scheduler_address} (2 workers)" in captured.out
    assert "1/2 jobs ok, 2 run now" in captured.out and f"plot: {out / 'sweep_X-squared.png'}" in captured.out
    assert "FAILED X=3: " in captured.err and FAILED.search(captured.err)
    assert cli.main(argv) == 1  # everything finished before: no cluster needed
    captured = capsys.readouterr()
    assert "1/2 jobs ok, 0 run now" in captured.out and "--retry-failed runs them" in captured.err


@pytest.mark.slow  # the client waits 10 s for the scheduler before giving up
def test_cli_sweep_names_an_unreachable_scheduler(notebook, tmp_path, capsys):
    argv = ["sweep", str(notebook), "-p", "X", "1", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1",
            "--out", str(tmp_path / "out")]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("labkit sweep: --scheduler: could not reach tcp://127.0.0.1:1: ") and err.count("\n") == 1
    assert not list((tmp_path / "out").iterdir())


# ----------------------------------------------------------------------------------------- no kernel: fast checks
def test_check_sweep_plans_one_job_per_combination(notebook, tmp_path):
    plan = sweep.check_sweep(notebook, {"X": "1,2", "SLEEP": [0.5, 1]}, smoke=True, out=tmp_path)
    assert [job.params for job in plan.jobs] == [{"X": 1, "SLEEP": 0.5, "SMOKE": True},
                                                 {"X": 1, "SLEEP": 1.0, "SMOKE": True},
                                                 {"X": 2, "SLEEP": 0.5, "SMOKE": True},
                                                 {"X": 2, "SLEEP": 1.0, "SMOKE": True}]
    assert [job.tag for job in plan.jobs][:2] == ["X=1_SLEEP=0.5", "X=1_SLEEP=1.0"]
    assert len({job.key for job in plan.jobs}) == 4 and all(job.key.startswith(job.tag) for job in plan.jobs)
    assert plan.names == ["X", "SLEEP"] and plan.out == tmp_path.resolve() and plan.executor == "local"


@pytest.mark.parametrize("kwargs,message", [
    (dict(executor="dsak"), "--executor: unknown executor 'dsak' (did you mean 'dask'?)"),
    (dict(scheduler="tcp://127.0.0.1:8786"), "--scheduler: only with --executor dask, got --executor local"),
    (dict(executor="local", workers=2), "--workers: only with --executor dask"),
    (dict(executor="dask", workers=0), "workers: expected an integer >= 1, got 0"),
    (dict(executor="dask", scheduler="tcp://h:1", workers=2), "--workers: the cluster of --scheduler tcp://h:1"),
    (dict(executor="dask", scheduler=" "), "--scheduler: expected a scheduler address"),
])
def test_check_sweep_refuses_bad_executor_flags(notebook, tmp_path, kwargs, message):
    with pytest.raises((TypeError, ValueError)) as err:
        sweep.check_sweep(notebook, {"X": "1"}, out=tmp_path / "out", **kwargs)
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()


def test_check_sweep_refuses_bad_grids(notebook, tmp_path):
    with pytest.raises(ValueError, match="parameter X expects int, got 'two'"):
        sweep.check_sweep(notebook, {"X": "1,two"}, out=tmp_path)
    with pytest.raises(ValueError, match="got the same job twice: X=1"):
        sweep.check_sweep(notebook, {"X": "1,01"}, out=tmp_path)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['Y'\]"):
        sweep.check_sweep(notebook, {"Y": "1"}, out=tmp_path)


def _payload(job, status="ok"):
    summary = {"parameters": job.params, "status": status, "seconds": 1.0, "peak_rss_mb": 1, "worker": "w:1",
               "error": "", "records": [{"key": "k", "value": 1.5, "unit": "", "note": ""}]}
    return {"job": summary, "files": {"tiny_sweep.ipynb": b"{}", "tiny_sweep/records.jsonl": b"\n"}}


def test_a_job_folder_is_written_whole_and_then_counts_as_finished(notebook, tmp_path):
    plan = sweep.check_sweep(notebook, {"X": "1,2"}, out=tmp_path)
    job, other = plan.jobs
    assert sweep.finished_job(tmp_path, job) is None
    folder = sweep.commit_job(tmp_path, job, _payload(job, "failed"))
    assert folder == tmp_path / job.key and sweep.finished_job(tmp_path, job)["status"] == "failed"
    sweep.commit_job(tmp_path, job, _payload(job))  # a failed job run again replaces its folder
    assert sweep.finished_job(tmp_path, job)["status"] == "ok"
    assert (folder / "tiny_sweep" / "records.jsonl").exists() and not list(tmp_path.glob(".*"))
    (tmp_path / other.key).mkdir()  # a folder without job.json (not written by commit_job) is not finished
    assert sweep.finished_job(tmp_path, other) is None
    assert json.loads((folder / "job.json").read_text())["parameters"] == {"X": 1}


def test_unknown_plot_key_is_refused_with_the_keys_recorded(notebook, tmp_path):
    plan = sweep.check_sweep(notebook, {"X": "1,2"}, out=tmp_path)
    for job in plan.jobs:
        sweep.commit_job(tmp_path, job, _payload(job))
    (tmp_path / ".stale.tmp").mkdir()  # left by an interrupted write: cleared
    with pytest.raises(ValueError, match=r"--plot: unknown key number 'kk' \(did you mean 'k'\?\)"):
        sweep.run_plan(plan, plot="kk")
    result = sweep.run_plan(plan, plot="k")
    assert result.ran == [] and result.keys == ["k"] and result.plot.read_bytes().startswith(b"\x89PNG")
    assert [row["k"] for row in _rows(result.csv)] == ["1.5", "1.5"] and not (tmp_path / ".stale.tmp").exists()
