"""The machinery of the exercises: an exercise, its test cases, its typical wrong answers, and the check.

An :class:`Exercise` is the code a lesson asks the learner to write (a function, or a value such as an einops
pattern), its reference answer, the :class:`Case` inputs it is run on and the :class:`Mistake` answers learners
typically give. :func:`check` runs an answer on every case and compares it with the reference; a wrong answer gets
a :class:`Feedback` with a hint, never the reference's output or code:

1. an answer that is still the placeholder (``...``, ``None``, ``raise NotImplementedError``) is "not answered yet";
2. an answer that raises is shown its own error and the case it failed on;
3. an answer that gives the same outputs as a typical mistake gets that mistake's hint;
4. otherwise the outputs are compared and the difference is named: wrong type, wrong shape (axes swapped or grouped
   differently), NaN, wrong sign, off by a constant factor, transposed, right on the ordinary cases but wrong at
   an edge case, wrong at a few entries.

This is the convention of otter-grader and nbgrader (a check cell after each answer cell), with the hints computed
from the answer's outputs rather than written per test.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["Case", "Mistake", "Exercise", "Feedback", "WrongKind", "check", "compare", "call_answer",
           "PLACEHOLDER_HINT"]

PLACEHOLDER_HINT = "not answered yet: replace the `...` with your answer and run the cell again"
_FACTOR = "off by a constant factor"  # the openings of the two hints a factor or sign common to every case earns
_SIGN = "the right size with the wrong sign"


class WrongKind(TypeError):
    """Raised by an exercise's ``run`` when the answer is not the kind of thing the exercise asks for (a string
    where a pattern is asked, an array where a tensor is); its message is the hint, shown as it is."""


@dataclass(frozen=True)
class Case:
    """One input the answer is run on: keyword arguments, a label the hint may name, and whether it is an edge
    case (the first frame, the last timestep, a zero, a square matrix ...)."""

    label: str
    inputs: dict = field(default_factory=dict)
    edge: bool = False


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer and the hint it earns. The tests check that each one fails with this hint."""

    name: str
    answer: object
    hint: str


def call_answer(answer, **inputs):
    """The default way to run an answer: call it with the case's inputs."""
    if not callable(answer):
        raise TypeError(f"expected a function, got {type(answer).__name__}")
    return answer(**inputs)


@dataclass(frozen=True)
class Exercise:
    """One exercise of a lesson.

    ``key`` is unique within the lesson (``"temporal_pattern"``); ``task`` says what to write; ``teaches`` what the
    exercise is for (for the instructor guide). ``reference`` is the answer the check accepts: a function, or a
    value when ``run`` says how a value is used (an einops pattern is used by ``einops.rearrange``).
    ``run(answer, **inputs)`` gives the output compared on each case; ``names`` labels the entries of a tuple output
    so that a hint can say which entry is wrong. ``rtol`` / ``atol`` are the tolerances of the comparison."""

    lesson: str
    key: str
    title: str
    task: str
    teaches: str
    reference: object
    cases: tuple[Case, ...]
    mistakes: tuple[Mistake, ...] = ()
    run: Callable = call_answer
    names: tuple[str, ...] = ()
    rtol: float = 1e-5
    atol: float = 1e-6

    @property
    def id(self) -> str:
        return f"{self.lesson}.{self.key}"

    def outputs(self, answer) -> list:
        """The answer's output on every case (inputs copied, so an answer that writes into them changes nothing)."""
        return [self.run(answer, **copy.deepcopy(case.inputs)) for case in self.cases]


@dataclass(repr=False)
class Feedback:
    """The result of a check: ``passed``, ``answered``, and the hint (empty when passed)."""

    exercise: str
    title: str
    passed: bool
    answered: bool
    hint: str = ""
    note: str = ""

    @property
    def status(self) -> str:
        return "passed" if self.passed else ("not answered" if not self.answered else "not yet")

    @property
    def mark(self) -> str:
        return "✓" if self.passed else ("…" if not self.answered else "✗")

    def __str__(self) -> str:
        text = f"{self.mark} {self.exercise} ({self.title}): {self.status}"
        if self.note:
            text += f" [{self.note}]"
        return text + (f"\n  hint: {self.hint}" if self.hint else "")

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else ("#6e7781" if not self.answered else "#cf222e")
        note = f" <i>({self.note})</i>" if self.note else ""
        hint = f"<br><b>hint:</b> {_escape(self.hint)}" if self.hint else ""
        return (f'<div style="border-left:4px solid {colour};padding:4px 8px">'
                f'<b style="color:{colour}">{self.mark} {_escape(self.title)}</b> — {self.status}{note}{hint}</div>')


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _is_placeholder(answer) -> bool:
    return answer is ... or answer is None


def _as_tensor(x) -> torch.Tensor | None:
    """A float64 tensor of a number, a bool, an array or a tensor; ``None`` for anything else."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64)
    if isinstance(x, np.ndarray) and x.dtype.kind in "biuf":
        return torch.from_numpy(np.asarray(x, dtype=np.float64))
    if isinstance(x, (bool, int, float, np.number, np.bool_)):
        return torch.tensor(float(x), dtype=torch.float64)
    return None


def _kind(x) -> str:
    if isinstance(x, torch.Tensor):
        return "tensor"
    if isinstance(x, np.ndarray):
        return "array"
    if isinstance(x, str):
        return "string"
    if isinstance(x, (tuple, list)):
        return "tuple"
    if _as_tensor(x) is not None:
        return "number"
    return type(x).__name__


def _axes_hint(got: torch.Tensor, want: torch.Tensor) -> str | None:
    """Name a shape mismatch without giving the expected shape away."""
    if got.numel() != want.numel():
        return (f"your output has shape {tuple(got.shape)} ({got.numel()} values), but the right output has a "
                f"different number of values: check which axes you keep, merge or drop")
    if got.dim() == want.dim():
        for perm in itertools.permutations(range(got.dim())):
            if tuple(got.shape[p] for p in perm) == tuple(want.shape) and \
                    torch.allclose(got.permute(*perm), want, rtol=1e-5, atol=1e-6):
                return (f"the right values with the axes in another order (your shape {tuple(got.shape)}): "
                        f"check the order of the axes")
    return (f"the right number of values grouped into other axes (your shape {tuple(got.shape)}): "
            f"check which axes you merge and in what order")


def compare(got, want, rtol: float = 1e-5, atol: float = 1e-6, names: Sequence[str] = ()) -> str | None:
    """``None`` when ``got`` matches ``want``; otherwise a hint that names the difference without saying what
    ``want`` is (no expected value, shape or string is ever quoted)."""
    if isinstance(want, str):
        if not isinstance(got, str):
            return f"expected a string, got {_kind(got)}"
        return None if got.split() == want.split() else "not the expected string"
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"expected a tuple of {len(want)} entries, got {_kind(got)}"
        if len(got) != len(want):
            return f"expected a tuple of {len(want)} entries, got {len(got)}"
        wrong = [i for i, (g, w) in enumerate(zip(got, want)) if compare(g, w, rtol, atol) is not None]
        if not wrong:
            return None
        labels = [names[i] if i < len(names) else f"entry {i}" for i in wrong]
        first = compare(got[wrong[0]], want[wrong[0]], rtol, atol)
        return f"{', '.join(labels)} {'is' if len(wrong) == 1 else 'are'} wrong ({labels[0]}: {first})"
    w = _as_tensor(want)
    if w is None:
        return None if got == want else "not the expected value"
    g = _as_tensor(got)
    if g is None and isinstance(got, (list, tuple)) and w.dim():
        try:  # nested lists of numbers are read as the tensor they spell
            g = torch.tensor(got, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            g = None
    if g is None:
        return f"expected a {_kind(want)}, got {_kind(got)}"
    if g.shape != w.shape:
        if w.dim() == 0 and g.numel() == 1:
            g = g.reshape(())
        else:
            return _axes_hint(g, w)
    if not torch.isfinite(g).all() and torch.isfinite(w).all():
        return "your output contains NaN or infinity: look for a division by zero or a square root of a negative"
    if torch.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):
        return None
    if g.numel() < 2:  # a ratio or a sign of one number would give the number away
        return "not the right value"
    finite = torch.isfinite(w)
    if not finite.all() and torch.equal(g[~finite], w[~finite]):  # the infinite ends agree: judge the rest
        g, w = g[finite], w[finite]
        if g.numel() < 2:
            return "not the right value"
    if torch.allclose(g, -w, rtol=rtol, atol=atol) and w.abs().max() > atol:
        return _SIGN
    if g.dim() >= 2 and g.shape[-1] == g.shape[-2] and torch.allclose(g.transpose(-1, -2), w, rtol=rtol, atol=atol):
        return "transposed: rows and columns are swapped"
    nonzero = w.abs() > atol
    if nonzero.sum() >= 2 and (g[~nonzero].abs() <= atol).all():
        ratio = g[nonzero] / w[nonzero]
        if torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio), rtol=1e-4) and not math.isclose(
                float(ratio.flatten()[0]), 1.0, rel_tol=1e-4):
            return f"{_FACTOR}: your output is {float(ratio.flatten()[0]):.4g} times the right one"
    bad = ~torch.isclose(g, w, rtol=rtol, atol=atol)
    if w.dim() and bad.sum() * 4 <= bad.numel():
        where = tuple(int(i) for i in bad.nonzero()[0])
        text = f"right at most entries, wrong at {int(bad.sum())} of {bad.numel()} (the first at index {where})"
        return text + (": look at that end of the range" if w.dim() == 1 else "")
    return "the values differ from the right ones"


def _across_cases(got: list, want: list, rtol: float, atol: float) -> str | None:
    """Where every case gives one number: the same factor or sign error on every case, named (one case alone
    would give its answer away)."""
    g, w = [_as_tensor(x) for x in got], [_as_tensor(x) for x in want]
    if any(x is None or x.numel() != 1 for x in g + w) or isinstance(want[0], bool):
        return None
    hint = compare(torch.stack([x.reshape(()) for x in g]), torch.stack([x.reshape(()) for x in w]), rtol, atol)
    return hint if hint and hint.startswith((_FACTOR, _SIGN)) else None


def check(exercise: Exercise, answer) -> Feedback:
    """Run ``answer`` on every case of ``exercise`` and say whether it is right, with a hint when it is not."""
    fb = Feedback(exercise.id, exercise.title, passed=False, answered=True)
    if _is_placeholder(answer):
        return Feedback(exercise.id, exercise.title, False, False, PLACEHOLDER_HINT)
    want = exercise.outputs(exercise.reference)
    got = []
    for case in exercise.cases:
        try:
            got.append(exercise.run(answer, **copy.deepcopy(case.inputs)))
        except NotImplementedError:
            return Feedback(exercise.id, exercise.title, False, False, PLACEHOLDER_HINT)
        except WrongKind as err:
            fb.hint = f"{err} (on the case: {case.label})"
            return fb
        except Exception as err:  # the learner's own error, shown to the learner
            fb.hint = f"your answer raised {type(err).__name__}: {err} (on the case: {case.label})"
            return fb
    if all(g is None for g in got):
        return Feedback(exercise.id, exercise.title, False, False,
                        "not answered yet: your function returns None; write its body, ending in `return ...`, "
                        "and run the cell again")
    diffs = [compare(g, w, exercise.rtol, exercise.atol, exercise.names) for g, w in zip(got, want)]
    if all(d is None for d in diffs):
        fb.passed = True
        return fb
    for mistake in exercise.mistakes:
        try:
            theirs = exercise.outputs(mistake.answer)
        except Exception:  # a mistake that fails on some case is not matched
            continue
        if all(compare(g, t, exercise.rtol, exercise.atol) is None for g, t in zip(got, theirs)):
            fb.hint = mistake.hint
            return fb
    failing = [c for c, d in zip(exercise.cases, diffs) if d is not None]
    first = next(d for d in diffs if d is not None)
    if first.startswith(_FACTOR) and any(d != first for d in diffs):
        first = "the values differ from the right ones"  # a factor only where it is the same on every case
    across = _across_cases(got, want, exercise.rtol, exercise.atol)
    if across is not None:
        fb.hint = f"{across} (on every case)"
        return fb
    if all(c.edge for c in failing):
        fb.hint = f"right on the ordinary cases, wrong on the edge case '{failing[0].label}': {first}"
    else:
        fb.hint = f"{first} (case: {failing[0].label})"
    return fb
