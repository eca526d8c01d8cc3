"""Reading and tidying the course notebooks: the parameters cell, fact cells and output stripping.

Every notebook has exactly one cell tagged ``parameters`` whose lines are annotated assignments::

    SMOKE: bool = False  # tiny settings for CI: a run of a minute or two
    NUM_FRAMES: int = 17  # frames per clip (4k+1)

Cells whose source contains ``# NBVAL_CHECK_OUTPUT`` (and that carry nbval's ``nbval-check-output`` tag, which
:func:`strip_outputs` adds) are *fact cells*: deterministic outputs kept in the committed notebook and checked by
``pytest --nbval-lax``. All other outputs are stripped before committing.

:func:`find_notebooks` and :func:`resolve_parameters` check ``labkit run`` / ``labkit sweep``'s notebook names and
``-p NAME VALUE`` parameters; they read the notebook files as JSON, so a bad name or value is refused before
``nbformat`` or ``papermill`` is imported.
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass
from pathlib import Path

from labkit import NOTEBOOKS_DIR
from labkit.checks import rule_for

__all__ = ["FACT_MARK", "FACT_TAG", "Parameter", "read_parameters", "convert_value", "coerce_parameters",
           "check_range", "find_notebooks", "resolve_parameters", "is_fact_cell", "strip_outputs", "output_violations"]


FACT_MARK = "# NBVAL_CHECK_OUTPUT"


FACT_TAG = "nbval-check-output"


_TYPES = {"bool": bool, "int": int, "float": float, "str": str, "list": list, "dict": dict}


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str  # "bool", "int", "float", "str", "list", "dict"
    default: object
    help: str


def _parameters_source(notebook) -> str:
    """The source of the one cell tagged ``parameters`` of a notebook file (read as JSON) or node."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8")) if isinstance(notebook, (str, Path)) else notebook
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"expected exactly one cell tagged 'parameters', found {len(cells)}")
    source = cells[0]["source"]
    return "".join(source) if isinstance(source, list) else source


def read_parameters(notebook) -> dict[str, Parameter]:
    """Parse a notebook's annotated ``parameters`` cell into ``{name: Parameter}``."""
    source = _parameters_source(notebook)
    lines = source.splitlines()
    params = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None):
            raise ValueError(f"parameters cell line {node.lineno}: expected 'NAME: type = value  # help', "
                             f"got {lines[node.lineno - 1]!r}")
        type_name = ast.unparse(node.annotation)
        if type_name not in _TYPES:
            raise ValueError(f"parameter {node.target.id}: type {type_name!r} not one of {sorted(_TYPES)}")
        line = lines[node.lineno - 1]
        help_text = line.split("#", 1)[1].strip() if "#" in line else ""
        params[node.target.id] = Parameter(node.target.id, type_name, ast.literal_eval(node.value), help_text)
    return params


def convert_value(param: Parameter, value):
    """Convert a CLI string (or a Python value) to the parameter's builtin type, or raise a clear error."""
    expected = _TYPES[param.type]
    if isinstance(value, str) and param.type != "str":
        text = value.strip()
        if param.type == "bool":
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"parameter {param.name} expects bool (true/false), got {value!r}")
            return lowered in ("true", "1", "yes")
        try:
            value = json.loads(text) if param.type in ("list", "dict") else expected(text)
        except (ValueError, json.JSONDecodeError):
            raise ValueError(f"parameter {param.name} expects {param.type}, got {value!r}") from None
    if param.type == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (param.type in ("int", "float") and isinstance(value, bool)):
        raise ValueError(f"parameter {param.name} expects {param.type}, got {type(value).__name__} {value!r}")
    if param.type == "float" and not math.isfinite(value):
        raise ValueError(f"parameter {param.name} expects a finite float, got {value!r}")
    check_range(param.name, value)
    return value


def check_range(name: str, value) -> None:
    """A number (or each number of a list) against the rule of its name (:func:`labkit.checks.rule_for`):
    ``-p TRAIN_STEPS -5`` is refused like ``--steps -5``."""
    rule = rule_for(name)
    values = value if isinstance(value, list) else [value]
    if rule is None or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return
    for v in values:
        try:
            rule.check(v, name)
        except (TypeError, ValueError) as err:
            raise ValueError(f"parameter {err}") from None


def coerce_parameters(notebook, given: dict) -> dict:
    """Validate ``given`` against a notebook's parameters; unknown names raise with the list of known ones."""
    params = read_parameters(notebook)
    unknown = sorted(set(given) - set(params))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for {Path(str(notebook)).name}; "
                         f"it takes: {', '.join(f'{p.name}: {p.type}' for p in params.values())}")
    return {name: convert_value(params[name], value) for name, value in given.items()}


def find_notebooks(names=None, folder=None) -> list[Path]:
    """Course notebooks by name (``00_tour``, ``00``, ``00_tour.ipynb`` or a path); all of them when empty."""
    folder = Path(folder or NOTEBOOKS_DIR)
    available = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return available
    found = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.exists():
            found.append(path.resolve())
            continue
        matches = [p for p in available if p.stem == name or p.stem.startswith(f"{name}_") or p.name == name]
        if len(matches) != 1:
            raise ValueError(f"no single notebook matches {name!r}; available: {', '.join(p.stem for p in available)}")
        found.append(matches[0])
    return found


def resolve_parameters(notebooks: list[Path], given: dict, smoke: bool) -> dict[Path, dict]:
    """Per-notebook parameters, validated: each given name must be declared by at least one selected
    notebook, and is passed (converted to the declared type) to every notebook that declares it.

    A run fills in the exercises' reference answers (``SOLUTIONS=True``) unless ``SOLUTIONS`` is given, so every
    notebook runs whole; a learner opening a notebook gets the declared default, ``False``."""
    declared = {nb: read_parameters(nb) for nb in notebooks}
    known = set().union(*(set(p) for p in declared.values())) if declared else set()
    unknown = sorted(set(given) - known)
    if unknown:
        listing = "; ".join(f"{nb.stem}: {', '.join(p)}" for nb, p in declared.items())
        raise ValueError(f"unknown parameter(s) {unknown}. Parameters by notebook: {listing}")
    resolved = {}
    for nb, params in declared.items():
        mine = {k: v for k, v in given.items() if k in params}
        if smoke:
            if "SMOKE" not in params:
                raise ValueError(f"{nb.name} has no SMOKE parameter; every course notebook must declare one")
            mine["SMOKE"] = True
        if "SOLUTIONS" in params and "SOLUTIONS" not in mine:
            mine["SOLUTIONS"] = True
        resolved[nb] = coerce_parameters(nb, mine)
    return resolved


def is_fact_cell(cell) -> bool:
    return cell.get("cell_type") == "code" and FACT_MARK in cell.get("source", "")


def strip_outputs(nb):
    """Remove outputs and execution counts from every code cell except fact cells (in place; returns nb)."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code_cells:
        tags = cell.metadata.setdefault("tags", [])
        if is_fact_cell(cell) and FACT_TAG not in tags:
            tags.append(FACT_TAG)
        if not tags:
            del cell.metadata["tags"]
    for number, cell in enumerate(code_cells, start=1):
        # nbval refuses a cell with outputs but no execution count: fact cells keep a stable count
        cell.execution_count = number if is_fact_cell(cell) and cell.outputs else None
        if not is_fact_cell(cell):
            cell.outputs = []
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    nb.metadata.pop("papermill", None)
    return nb


def output_violations(notebook) -> list[str]:
    """Cells of a committed notebook that break the output rule (outputs outside fact cells, or a fact cell
    without outputs); empty when the notebook is clean."""
    import nbformat  # lazy: `labkit run` checks names and parameters without it

    nb = nbformat.read(str(notebook), as_version=4)
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if is_fact_cell(cell) and not cell.outputs:
            problems.append(f"cell {i}: fact cell has no stored output (run tools/nbfacts.py)")
        if is_fact_cell(cell) and FACT_TAG not in cell.metadata.get("tags", []):
            problems.append(f"cell {i}: fact cell lacks the {FACT_TAG!r} tag (run tools/nbfacts.py)")
        if not is_fact_cell(cell) and cell.outputs:
            problems.append(f"cell {i}: has outputs but is not a fact cell")
    return problems
