"""Every course notebook runs top to bottom in smoke mode (picked up automatically from notebooks/)."""

import pytest

from labkit.course import runner

pytestmark = pytest.mark.notebook


def test_notebook_runs_in_smoke_mode(notebook, tmp_path, timings):
    params = runner.resolve_parameters([notebook], {}, smoke=True)[notebook]
    result = runner.run_notebook(notebook, params, out_dir=tmp_path, cell_timeout=600, progress=False)
    timings[f"{notebook.stem} (papermill)"] = ("papermill", result.seconds)
    assert result.status == "ok", f"{notebook.name} failed: {result.error} (executed copy: {result.output})"
