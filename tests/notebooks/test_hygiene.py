"""Course notebooks are committed clean: outputs only in fact cells, one annotated parameters cell with SMOKE."""

import nbformat

from labkit.course.nbtools import is_fact_cell, output_violations, read_parameters


def test_outputs_only_in_fact_cells(notebook):
    assert output_violations(notebook) == []


def test_parameters_cell_is_annotated_and_has_smoke(notebook):
    params = read_parameters(notebook)
    assert "SMOKE" in params and params["SMOKE"].type == "bool" and params["SMOKE"].default is False
    undocumented = [p.name for p in params.values() if not p.help]
    assert undocumented == [], f"parameters without a '# help' comment: {undocumented}"


def test_structure_and_kernel(notebook):
    nb = nbformat.read(notebook, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "What to try" in text
    assert all(c.execution_count is None for c in nb.cells if c.cell_type == "code" and not is_fact_cell(c))
    assert any(is_fact_cell(c) for c in nb.cells) or "NBVAL" not in text
