"""The exercises: every reference passes its own check, every typical mistake fails with its own hint, no hint
gives the solution away, and every lesson notebook asks at least two of them."""

from __future__ import annotations

import itertools
import json
import math
import re

import pytest
import torch

import labkit
from labkit import NOTEBOOKS_DIR
from labkit.course import exercises
from labkit.course.exercises import EXERCISES, Book, Case, Exercise, Mistake, check, check_answer, compare
from labkit.course.exercises.core import PLACEHOLDER_HINT

IDS = list(EXERCISES)
MISTAKES = [(ex_id, m) for ex_id, ex in EXERCISES.items() for m in ex.mistakes]
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def _scalars(x) -> list[str]:
    """The ways an expected number or string could be printed in a hint."""
    if isinstance(x, str):
        return [x, " ".join(x.split())]
    if isinstance(x, (tuple, list)):
        return [s for v in x for s in _scalars(v)] + [repr(tuple(x)), repr(list(x))]
    if isinstance(x, bool) or x is None:
        return []
    if isinstance(x, (int, float)) or (isinstance(x, torch.Tensor) and x.numel() == 1):
        v = float(x)
        return [f"{v:.4g}", repr(v)] + ([str(int(v))] if v.is_integer() else [])
    return []


@pytest.mark.parametrize("ex_id", IDS)
def test_reference_passes(ex_id):
    fb = check_answer(ex_id, EXERCISES[ex_id].reference)
    assert fb.passed and fb.answered and fb.hint == "", str(fb)


@pytest.mark.parametrize("ex_id", IDS)
def test_every_exercise_is_taught_and_has_mistakes(ex_id):
    ex = EXERCISES[ex_id]
    assert ex.task and ex.teaches and ex.title
    assert len(ex.cases) >= 2 and ex.mistakes, f"{ex_id}: needs at least two cases and one typical mistake"


@pytest.mark.parametrize("ex_id", IDS)
def test_typical_mistakes_are_told_apart(ex_id):
    ex = EXERCISES[ex_id]
    outputs = [ex.outputs(m.answer) for m in ex.mistakes]
    for i, j in itertools.combinations(range(len(outputs)), 2):
        same = all(compare(a, b, ex.rtol, ex.atol) is None for a, b in zip(outputs[i], outputs[j]))
        assert not same, f"{ex_id}: mistakes {ex.mistakes[i].name!r} and {ex.mistakes[j].name!r} give the same outputs"


@pytest.mark.parametrize("ex_id,mistake", MISTAKES, ids=[f"{i}:{m.name}" for i, m in MISTAKES])
def test_typical_mistake_gets_its_hint_not_the_solution(ex_id, mistake):
    ex = EXERCISES[ex_id]
    fb = check(ex, mistake.answer)
    assert not fb.passed and fb.answered
    assert fb.hint == mistake.hint
    expected = [s for out in ex.outputs(ex.reference) for s in _scalars(out)] + _scalars(ex.reference)
    leaked = [s for s in expected if len(s) > 1 and re.search(rf"(?<![\w.]){re.escape(s)}(?![\w.])", fb.hint)]
    assert not leaked, f"{ex_id}: the hint {fb.hint!r} quotes the solution's {leaked}"


@pytest.mark.parametrize("ex_id", IDS)
def test_placeholders_are_not_answered(ex_id):
    for answer in (..., None):
        fb = check_answer(ex_id, answer)
        assert not fb.answered and not fb.passed and fb.hint == PLACEHOLDER_HINT


def test_an_answer_that_raises_is_shown_its_error():
    def stub(num_frames):
        raise NotImplementedError

    assert check_answer("02.causal_mask", stub).status == "not answered"

    def broken(num_frames):
        return torch.ones(num_frames) @ torch.ones(num_frames + 1)

    fb = check_answer("02.causal_mask", broken)
    assert not fb.passed and fb.answered and fb.hint.startswith("your answer raised RuntimeError")


def test_an_answer_that_returns_none_is_asked_to_return():
    fb = check_answer("02.causal_mask", lambda num_frames: None)
    assert not fb.answered and "return" in fb.hint


def test_compare_names_what_is_wrong():
    want = torch.arange(24.0).reshape(2, 3, 4)
    assert compare(want.clone(), want) is None
    assert "axes in another order" in compare(want.permute(2, 0, 1), want)
    assert "grouped into other axes" in compare(want.reshape(6, 4), want)
    assert "different number of values" in compare(want[:1], want)
    assert "constant factor" in compare(3 * want, want) and "3 times" in compare(3 * want, want)
    assert compare(-want, want) == "the right size with the wrong sign"
    square = torch.arange(9.0).reshape(3, 3)
    assert compare(square.T, square).startswith("transposed")
    nan = want.clone()
    nan[0, 0, 0] = float("nan")
    assert "NaN" in compare(nan, want)
    one_off = want.clone()
    one_off[1, 2, 3] = -1
    assert compare(one_off, want).endswith("index (1, 2, 3))")
    assert compare(torch.tensor([1.0, 2, 3, 4, 9]), torch.arange(1.0, 6)).endswith("look at that end of the range")
    assert compare([[0.0, 1.0], [2.0, 3.0]], torch.arange(4.0).reshape(2, 2)) is None  # nested lists count
    assert compare([[0.0, 1.0], [2.0, 5.0]], torch.arange(4.0).reshape(2, 2)) is not None
    assert "expected a tensor, got string" == compare("x", want)
    assert "shape is wrong" in compare((2, 4), (2, 3), names=("batch", "shape"))
    assert compare(1.0 + 1e-9, 1.0) is None and compare(1.01, 1.0) == "not the right value"  # no ratio for one
    assert compare(-2.0, 2.0) == "not the right value"
    log_snr = torch.tensor([3.0, 1.0, -1.0, -math.inf])
    assert "2 times" in compare(log_snr * 2, log_snr) and compare(log_snr.clone(), log_snr) is None


def test_a_factor_common_to_every_case_is_named_for_number_answers():
    ex = Exercise(lesson="xx", key="k", title="t", task="t", teaches="t", reference=lambda n: n * 2.0,
                  cases=(Case("n=3", {"n": 3}), Case("n=5", {"n": 5})), mistakes=(Mistake("m", lambda n: n, "h"),))
    assert check(ex, lambda n: n * 6.0).hint == ("off by a constant factor: your output is 3 times the right one "
                                                 "(on every case)")
    assert check(ex, lambda n: -n * 2.0).hint == "the right size with the wrong sign (on every case)"
    assert check(ex, lambda n: n * 2.0 + 1).hint == "not the right value (case: n=3)"
    vec = Exercise(lesson="xx", key="v", title="t", task="t", teaches="t", reference=lambda n: torch.arange(1.0, 4) * n,
                   cases=(Case("n=1", {"n": 1}), Case("n=2", {"n": 2})), mistakes=(Mistake("m", lambda n: n, "h"),))
    assert "3 times" in check(vec, lambda n: torch.arange(1.0, 4) * n * 3).hint
    assert check(vec, lambda n: torch.arange(1.0, 4) * 3).hint == "the values differ from the right ones (case: n=1)"


def test_a_failure_only_at_an_edge_case_is_called_so():
    ex = Exercise(lesson="xx", key="k", title="t", task="t", teaches="t", reference=lambda n: n * 2,
                  cases=(Case("n=3", {"n": 3}), Case("n=0", {"n": 0}, edge=True)),
                  mistakes=(Mistake("m", lambda n: n, "h"),))
    fb = check(ex, lambda n: n * 2 if n else 1)
    assert "edge case 'n=0'" in fb.hint


def test_book_fills_in_the_reference_only_when_asked():
    learner = Book("02", solutions=False)
    answer = "b f c h w -> (b h w) f c"
    fb = learner.check("temporal_pattern", answer)
    assert fb.status == "not yet" and "heads" in fb.hint and learner.results["temporal_pattern"] is fb
    assert "✗" in str(fb) and "hint:" in fb._repr_html_()
    teacher = Book("02", solutions=True)
    fb = teacher.check("temporal_pattern", answer)
    assert fb.passed and "SOLUTIONS=True" in fb.note and teacher.results["temporal_pattern"].passed
    summary = teacher.summary()
    assert summary.passed == 1 and "not checked" in str(summary)
    with pytest.raises(ValueError, match="key"):
        teacher.check("temporal_patern", ...)
    with pytest.raises(ValueError, match="lesson"):
        exercises.book("99")
    with pytest.raises(TypeError, match="solutions"):
        Book("02", solutions="yes")


def _notebook_checks(path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return re.findall(r"book\.check\(\s*\"(\w+)\"", code)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_every_lesson_asks_at_least_two_exercises(notebook):
    number = notebook.stem[:2]
    keys = _notebook_checks(notebook)
    assert len(keys) >= 2, f"{notebook.name} asks {len(keys)} exercises; every lesson asks at least two"
    known = {ex.key for ex in exercises.lesson(number)}
    assert set(keys) == known, f"{notebook.name}: checks {sorted(keys)}, the lesson defines {sorted(known)}"


def test_the_instructor_guide_lists_every_exercise_as_labkit_exercises_prints_it():
    guide = (labkit.PROJECT_ROOT / "docs" / "workshop.md").read_text()
    block = guide.split("<!-- exercises:start -->\n", 1)[1].split("<!-- exercises:end -->", 1)[0]
    assert block.strip() == exercises.guide_table().strip(), \
        "docs/workshop.md's exercise table is out of date: paste `labkit exercises --markdown` between the markers"
    assert all(f"`{ex_id}`" in block for ex_id in EXERCISES)


def test_labkit_exercises_lists_and_refuses(capsys):
    from labkit.course.cli import main

    assert main(["exercises", "2"]) == 0
    out = capsys.readouterr().out
    assert "02.causal_mask" in out and "teaches:" in out and "03." not in out
    assert main(["exercises", "12"]) == 2
    assert "LESSON: unknown lesson '12'" in capsys.readouterr().err


def test_an_answer_of_the_wrong_kind_is_told_so_not_that_it_raised():
    fb = check_answer("02.temporal_pattern", ["b f (n d) h w", "(b h w) n f d"])
    assert fb.hint.startswith("expected an einops pattern (a string), got list") and "raised" not in fb.hint
