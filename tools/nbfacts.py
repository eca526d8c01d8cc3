"""Refresh the stored outputs of a notebook's fact cells and strip every other output.

    python tools/nbfacts.py notebooks/00_tour.ipynb [...]

Runs each notebook in smoke mode with papermill (in a temporary folder), copies the outputs of the cells marked
``# NBVAL_CHECK_OUTPUT`` back into the notebook, strips all other outputs and execution counts, and sets the
``python3`` kernelspec. This is how a committed notebook gets the outputs that ``pytest --nbval-lax`` checks.
"""

import os
import sys
import tempfile
from pathlib import Path

import nbformat
import papermill

from labkit.course.nbtools import is_fact_cell, strip_outputs

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def normalise(nb) -> None:
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}


def refresh(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    normalise(nb)
    strip_outputs(nb)
    nbformat.write(nb, path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / path.name
        os.environ["LABKIT_OUTPUT_DIR"] = tmp
        papermill.execute_notebook(str(path), str(out), parameters={"SMOKE": True}, kernel_name="python3",
                                   cwd=str(path.parent), progress_bar=False)
        executed = nbformat.read(out, as_version=4)
    # papermill inserts an "injected-parameters" cell after the parameters cell: match cells by id
    by_id = {c.get("id"): c for c in executed.cells}
    for cell in nb.cells:
        if is_fact_cell(cell):
            cell.outputs = by_id[cell.get("id")].outputs
            for output in cell.outputs:
                if "execution_count" in output:
                    output["execution_count"] = None
    strip_outputs(nb)
    nbformat.write(nb, path)
    print(f"{path}: {sum(is_fact_cell(c) for c in nb.cells)} fact cells refreshed")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        refresh(Path(arg))
