import re

import nbformat
import pytest

from labkit.course import nbtools


def _notebook(source: str, extra_cells=()):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, *extra_cells]
    return nb


def test_read_parameters_types_defaults_and_help():
    nb = _notebook('SMOKE: bool = False  # tiny settings\nSTEPS: int = 25  # sampler steps\nLR: float = 1e-3\n'
                   'MODEL: str = "tiny-t2v"  # which model\nSIZES: list = [32, 64]')
    params = nbtools.read_parameters(nb)
    assert list(params) == ["SMOKE", "STEPS", "LR", "MODEL", "SIZES"]
    assert params["STEPS"].default == 25 and params["STEPS"].help == "sampler steps"
    assert params["MODEL"].type == "str" and params["SIZES"].default == [32, 64]


@pytest.mark.parametrize("source, message", [
    ("SMOKE = False", "expected 'NAME: type = value"),
    ("SMOKE: bool = False\nX: tuple = (1,)", "type 'tuple'"),
])
def test_bad_parameters_cells(source, message):
    with pytest.raises(ValueError, match=message):
        nbtools.read_parameters(_notebook(source))


def test_exactly_one_parameters_cell():
    nb = _notebook("SMOKE: bool = False")
    nb.cells.append(nb.cells[0].copy())
    with pytest.raises(ValueError, match="exactly one cell tagged 'parameters', found 2"):
        nbtools.read_parameters(nb)


@pytest.mark.parametrize("type_, text, expected", [
    ("bool", "true", True), ("bool", "0", False), ("int", "12", 12), ("float", "0.5", 0.5),
    ("float", "3", 3.0), ("str", "THUDM/CogVideoX-5b", "THUDM/CogVideoX-5b"), ("list", "[1, 2]", [1, 2]),
])
def test_convert_value(type_, text, expected):
    value = nbtools.convert_value(nbtools.Parameter("X", type_, None, ""), text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("type_, value", [("bool", "maybe"), ("int", "1.5"), ("float", "fast"), ("int", True),
                                          ("list", "{")])
def test_convert_value_errors(type_, value):
    with pytest.raises(ValueError, match=f"parameter X expects {type_}"):
        nbtools.convert_value(nbtools.Parameter("X", type_, None, ""), value)


def test_coerce_rejects_unknown_names_listing_the_known_ones():
    nb = _notebook("SMOKE: bool = False\nSTEPS: int = 25")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['STPES'\].*SMOKE: bool, STEPS: int"):
        nbtools.coerce_parameters(nb, {"STPES": "3"})
    assert nbtools.coerce_parameters(nb, {"STEPS": "3"}) == {"STEPS": 3}


@pytest.mark.parametrize("name,value,message", [
    ("TRAIN_STEPS", "-5", "TRAIN_STEPS: expected an integer >= 1, got -5"),
    ("GUIDANCE", "-1.5", "GUIDANCE: expected a finite number >= 0, got -1.5"),
    ("SEED", "-1", "SEED: expected a seed in"),
    ("DECODE_FRAMES", "[9, 0]", "DECODE_FRAMES: expected an integer >= 1, got 0"),
    ("STRENGTHS", "[0.5, 2.0]", "STRENGTHS: expected a finite number in [0, 1], got 2"),
])
def test_numeric_parameters_are_checked_against_their_rule(name, value, message):
    nb = _notebook("TRAIN_STEPS: int = 3\nGUIDANCE: float = 4.0\nSEED: int = 0\nDECODE_FRAMES: list = [9]\n"
                   "STRENGTHS: list = [0.0]\nLABEL: str = 'x'")
    with pytest.raises(ValueError, match=re.escape(message)):
        nbtools.coerce_parameters(nb, {name: value})
    assert nbtools.coerce_parameters(nb, {"TRAIN_STEPS": "2", "LABEL": "-5", "STRENGTHS": "[0, 1]"}) == \
        {"TRAIN_STEPS": 2, "LABEL": "-5", "STRENGTHS": [0, 1]}


def test_a_run_fills_in_the_solutions_unless_told_not_to(tmp_path):
    with_ex, without = tmp_path / "00_a.ipynb", tmp_path / "01_b.ipynb"
    nbformat.write(_notebook("SMOKE: bool = False  # s\nSOLUTIONS: bool = False  # reference answers"), with_ex)
    nbformat.write(_notebook("SMOKE: bool = False  # s"), without)
    resolved = nbtools.resolve_parameters([with_ex, without], {}, smoke=True)
    assert resolved == {with_ex: {"SMOKE": True, "SOLUTIONS": True}, without: {"SMOKE": True}}
    told = nbtools.resolve_parameters([with_ex], {"SOLUTIONS": "False"}, smoke=False)
    assert told == {with_ex: {"SOLUTIONS": False}}


def test_strip_outputs_keeps_only_fact_cells(tmp_path):
    fact = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(1)", metadata={"tags": ["nbval-check-output"]})
    other = nbformat.v4.new_code_cell("print(2)")
    for cell, text in ((fact, "1\n"), (other, "2\n")):
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        cell.execution_count = 3
    nb = _notebook("SMOKE: bool = False", [fact, other])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert nbtools.output_violations(path) == ["cell 2: has outputs but is not a fact cell"]
    nbtools.strip_outputs(nb)
    nbformat.write(nb, path)
    assert nbtools.output_violations(path) == []
    assert nb.cells[1].metadata["tags"] == ["nbval-check-output"] and "tags" not in nb.cells[2].metadata
    assert nb.cells[1].outputs and not nb.cells[2].outputs and nb.cells[1].execution_count == 2 and nb.cells[2].execution_count is None
    nb.cells[1].metadata["tags"] = []
    nbformat.write(nb, path)
    assert "lacks the 'nbval-check-output' tag" in nbtools.output_violations(path)[0]
    nb.cells[1].outputs = []
    nbformat.write(nb, path)
    assert "fact cell has no stored output" in nbtools.output_violations(path)[0]
