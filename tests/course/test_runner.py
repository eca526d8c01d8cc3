"""labkit.course.runner on small throwaway notebooks (each execution starts a real kernel: a few seconds)."""

from pathlib import Path

import nbformat
import pytest

from labkit.course import runner


def _write_notebook(path, body: str, params: str = "SMOKE: bool = False  # tiny\nSTEPS: int = 3  # steps"):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), p, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


GOOD = """
import torch
from labkit.course.record import record, save_artifact_video
from labkit.data import make_clip
record("steps seen", STEPS, "", "smoke" if SMOKE else "full")
record("a tensor mean", torch.ones(3).mean(), "")
save_artifact_video(make_clip("a red circle moving left", seed=0).video, "clip")
print("done", STEPS, SMOKE)
"""


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    folder = tmp_path_factory.mktemp("notebooks")
    _write_notebook(folder / "00_good.ipynb", GOOD)
    _write_notebook(folder / "01_bad.ipynb", "x = 1\nraise RuntimeError('boom at step %d' % STEPS)")
    return folder


@pytest.fixture(scope="module")
def results(course, tmp_path_factory):
    out = tmp_path_factory.mktemp("outputs")
    notebooks = runner.find_notebooks(folder=course)
    params = runner.resolve_parameters(notebooks, {"STEPS": "7"}, smoke=True)
    res = [runner.run_notebook(nb, params[nb], out, cell_timeout=120, progress=False) for nb in notebooks]
    runner.write_report(res, out)
    return out, res


def test_good_notebook_runs_with_converted_parameters(results):
    out, (good, _) = results
    assert good.status == "ok", good.error
    assert good.parameters == {"STEPS": 7, "SMOKE": True}
    assert {r["key"]: r["value"] for r in good.records} == {"steps seen": 7, "a tensor mean": 1.0}
    assert good.records[0]["note"] == "smoke"
    assert [v.name for v in good.videos] == ["clip.mp4"]
    assert good.peak_rss_mb > 50  # the kernel imported torch: its memory was sampled
    executed = nbformat.read(good.output, as_version=4)
    assert any("done 7 True" in o.get("text", "") for c in executed.cells for o in c.get("outputs", []))


def test_failing_notebook_names_cell_and_error(results):
    _, (_, bad) = results
    assert bad.status == "failed"
    assert "RuntimeError: boom at step 7" in bad.error and "cell " in bad.error


def test_report_lists_status_times_numbers_and_videos(results):
    out, _ = results
    md = (out / "report.md").read_text()
    assert "| [00_good](00_good.ipynb) | ok |" in md and "| [01_bad](01_bad.ipynb) | failed |" in md
    assert "| steps seen | 7 | smoke |" in md
    html = (out / "report.html").read_text()
    assert "<video src='00_good/clip.mp4'" in html and "boom at step 7" in html
    assert "href='00_good.html'" in html and (out / "00_good.html").read_text().count("done 7 True") >= 1
    summary = runner.format_summary(results[1])
    assert "00_good" in summary and "1/2 notebooks ok" in summary


def test_parameters_are_validated_before_anything_runs(course):
    notebooks = runner.find_notebooks(folder=course)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['STPES'\]"):
        runner.resolve_parameters(notebooks, {"STPES": "3"}, smoke=False)
    with pytest.raises(ValueError, match="parameter STEPS expects int"):
        runner.resolve_parameters(notebooks, {"STEPS": "three"}, smoke=False)


def test_find_notebooks_by_short_name(course):
    assert runner.find_notebooks(["00"], folder=course)[0].name == "00_good.ipynb"
    with pytest.raises(ValueError, match="available: 00_good, 01_bad"):
        runner.find_notebooks(["07"], folder=course)


CONNECTION = """
import json, os
from ipykernel.connect import get_connection_info
info = json.loads(get_connection_info())
print("transport", info["transport"], "ip", info["ip"], "sockets", sorted(os.listdir(os.path.dirname(info["ip"]))))
"""


def test_kernel_talks_over_its_own_unix_sockets_not_tcp_ports(tmp_path):
    """No port is chosen before the kernel binds it, so parallel kernels cannot race for one (papermill#511)."""
    nb = _write_notebook(tmp_path / "00_sockets.ipynb", CONNECTION)
    result = runner.run_notebook(nb, {}, tmp_path / "out", cell_timeout=60, progress=False)
    assert result.status == "ok", result.error
    executed = nbformat.read(result.output, as_version=4)
    text = "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    _, transport, _, ip, _, sockets = text.strip().split(maxsplit=5)
    assert transport == "ipc" and Path(ip).parent.name.startswith("labkit-kernel-"), text
    assert sockets == "['kernel-1', 'kernel-2', 'kernel-3', 'kernel-4', 'kernel-5']"
    assert not Path(ip).parent.exists()  # the kernel's socket folder is removed with it
