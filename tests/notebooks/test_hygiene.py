"""Course notebooks are committed clean: outputs only in fact cells, one annotated parameters cell with SMOKE and
SOLUTIONS; no logic that belongs in labkit (functions longer than a few lines), one import convention for labkit, and
nothing for ruff to find."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from labkit.checks import rule_for
from labkit.course.nbtools import is_fact_cell, output_violations, read_parameters

ROOT = Path(__file__).resolve().parents[2]

#: The longest function a notebook may define (``def`` line included); anything longer belongs in labkit.
MAX_FUNCTION_LINES = 5


def _cell_trees(nb):
    """``(index, ast)`` of every code cell, IPython magics (``%``, ``!`` lines) left out."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            lines = [line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))]
            yield i, ast.parse("\n".join(lines))


def long_functions(nb, max_lines: int = MAX_FUNCTION_LINES) -> list[str]:
    """Functions (and methods) a notebook defines that are longer than ``max_lines`` lines."""
    return [f"cell {i}: `{node.name}` is {node.end_lineno - node.lineno + 1} lines (more than {max_lines}): "
            "move it into labkit"
            for i, tree in _cell_trees(nb) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > max_lines]


def labkit_import_problems(nb) -> list[str]:
    """labkit imports that break the convention ``from labkit import data, video`` /
    ``from labkit.models import vae`` / ``from labkit.metrics import psnr``: ``import labkit.x [as y]`` and any
    alias (``as V``, ``as knob_data``)."""
    problems = []
    for i, tree in _cell_trees(nb):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                problems += [f"cell {i}: `import {a.name}{f' as {a.asname}' if a.asname else ''}`: "
                             f"write `from {a.name.rpartition('.')[0] or a.name} import ...`"
                             for a in node.names if a.name.split(".")[0] == "labkit"]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "labkit":
                problems += [f"cell {i}: `from {node.module} import {a.name} as {a.asname}`: import it by its "
                             "own name" for a in node.names if a.asname]
    return problems


#: One finding of ``ruff check --output-format concise``: ``path:cell 3:1:8: F401 ...``.
FINDING = re.compile(r".+:(cell \d+:)?\d+:\d+: [A-Z]+\d+ ")


def ruff_findings(path) -> list[str]:
    """What ``ruff check`` (the project's configuration, ``pyproject.toml``) reports for a notebook file."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--config", str(ROOT / "pyproject.toml"),
                             "--output-format", "concise", "--no-cache", str(path)],
                            capture_output=True, text=True, cwd=ROOT)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"ruff failed to run on {path}: {result.stderr.strip()}")
    return [line for line in result.stdout.splitlines() if FINDING.match(line)]


def test_outputs_only_in_fact_cells(notebook):
    assert output_violations(notebook) == []


def test_parameters_cell_is_annotated_and_has_smoke(notebook):
    params = read_parameters(notebook)
    assert "SMOKE" in params and params["SMOKE"].type == "bool" and params["SMOKE"].default is False
    assert "SOLUTIONS" in params and params["SOLUTIONS"].type == "bool" and params["SOLUTIONS"].default is False, \
        "every lesson declares SOLUTIONS: bool = False (its exercises' reference answers, filled in by labkit run)"
    unruled = [p.name for p in params.values() if p.type in ("int", "float", "list") and rule_for(p.name) is None]
    assert unruled == [], f"numeric parameters with no range rule in labkit.checks.VOCABULARY: {unruled}"
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


def test_no_long_functions(notebook):
    assert long_functions(nbformat.read(notebook, as_version=4)) == []


def test_labkit_imports_follow_the_convention(notebook):
    assert labkit_import_problems(nbformat.read(notebook, as_version=4)) == []


def test_ruff_finds_nothing(notebook):
    assert ruff_findings(notebook) == []


# ------------------------------------------------------------------------------------------------ the checkers
def _tiny_notebook(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 99 · A tiny notebook")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    return nb


GOOD = ("from labkit import data, video\nfrom labkit.models import vae\n\nclip = data.make_clip('a red circle', seed=0)",
        "def shown(x):  # [-1, 1] -> [0, 1]\n    y = (x + 1) / 2\n    y = y.clamp(0, 1)\n    return y\n\n\n"
        "print(shown(vae), video)")
BAD = ("import labkit.noise as n\nfrom labkit import attention as A\nfrom labkit.data import knob as knob_data",
       "def plan(spec):\n    try:\n        return spec.load()\n    except ValueError:\n        print('no')\n"
       "        return None\n\n\nplan(n)")


def test_checkers_pass_a_clean_notebook():
    nb = _tiny_notebook(*GOOD)
    assert long_functions(nb) == [] and labkit_import_problems(nb) == []


def test_checkers_catch_a_bad_notebook():
    nb = _tiny_notebook(*BAD)
    assert long_functions(nb) == ["cell 2: `plan` is 6 lines (more than 5): move it into labkit"]
    problems = labkit_import_problems(nb)
    assert len(problems) == 3
    assert problems[0].startswith("cell 1: `import labkit.noise as n`")
    assert "`from labkit import attention as A`" in problems[1] and "knob_data" in problems[2]
    assert labkit_import_problems(_tiny_notebook("import labkit")) != []


@pytest.mark.parametrize("sources, expected", [
    (GOOD, []),
    (("import json\nimport os\n\nprint(json.dumps(1)); print(2)",), ["F401", "E702"]),
])
def test_ruff_checker(tmp_path, sources, expected):
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(_tiny_notebook(*sources), path)
    codes = [line.split(": ", 1)[1].split()[0] for line in ruff_findings(path)]
    assert sorted(codes) == sorted(expected)
