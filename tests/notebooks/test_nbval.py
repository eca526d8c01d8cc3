"""nbval in --nbval-lax mode: the fact cells' stored outputs must be reproduced (smoke parameters injected)."""

import os
import subprocess
import sys
import time

import papermill
import pytest

pytestmark = pytest.mark.notebook


def test_fact_cells_reproduce(notebook, tmp_path, timings):
    prepared = tmp_path / notebook.name
    papermill.execute_notebook(str(notebook), str(prepared), parameters={"SMOKE": True}, prepare_only=True,
                               kernel_name="python3", progress_bar=False)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LABKIT_OUTPUT_DIR": str(tmp_path / "artifacts")}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider", "-q",
         str(prepared)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    timings[f"{notebook.stem} (nbval)"] = ("nbval", time.perf_counter() - t0)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
