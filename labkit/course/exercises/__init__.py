"""Exercises with self-checks: in every lesson the learner writes the code the lesson is about, and a check says
whether it is right with a hint that teaches, never the solution (the otter-grader / nbgrader convention).

In a notebook::

    book = exercises.book("02", solutions=SOLUTIONS)

    temporal_pattern = ...  # YOUR ANSWER
    book.check("temporal_pattern", temporal_pattern)  # shows ✓, or ✗ with a hint

``SOLUTIONS=True`` (what ``labkit run`` and CI pass) fills in the reference answer, so the notebook runs whole;
``SOLUTIONS=False`` (a learner's default) checks the learner's own answer. ``book.summary()`` shows the lesson's
exercises with their status.

- :mod:`.core`: :class:`Exercise`, :class:`Case`, :class:`Mistake`, :func:`check` and the comparison that names
  what is wrong (shape, axes, sign, constant factor, edge case);
- ``lessonNN``: the exercises of lesson ``NN``, each with its reference, cases and typical mistakes.
"""

from __future__ import annotations

from labkit.checks import check_choice
from labkit.course.exercises import (
    lesson00,
    lesson01,
    lesson02,
    lesson03,
    lesson04,
    lesson05,
    lesson06,
    lesson07,
)
from labkit.course.exercises.core import Case, Exercise, Feedback, Mistake, check, compare

__all__ = ["Case", "Exercise", "Feedback", "Mistake", "EXERCISES", "check", "compare", "check_answer", "guide_table", "lesson",
           "Book", "Summary", "book"]

_LESSON_MODULES = (lesson00, lesson01, lesson02, lesson03, lesson04, lesson05, lesson06, lesson07)

#: Every exercise of the course by id (``"02.temporal_pattern"``), in lesson order.
EXERCISES: dict[str, Exercise] = {ex.id: ex for module in _LESSON_MODULES for ex in module.EXERCISES}


def lesson(number: str) -> list[Exercise]:
    """The exercises of one lesson (``"02"``), in the order the notebook asks them."""
    lessons = sorted({ex.lesson for ex in EXERCISES.values()})
    check_choice(str(number), "lesson", lessons, what="lesson")
    return [ex for ex in EXERCISES.values() if ex.lesson == str(number)]


def guide_table(lessons=None) -> str:
    """The instructor guide's table of exercises (markdown): per exercise what it teaches and the typical wrong
    answers the check recognises, with the hint each earns. ``labkit exercises --markdown`` prints it;
    ``docs/workshop.md`` holds it (a test keeps the two equal)."""
    numbers = sorted({ex.lesson for ex in EXERCISES.values()}) if lessons is None else [str(n) for n in lessons]
    lines = ["| exercise | what the learner writes | what it teaches | typical wrong answers (the hint they get) |",
             "|---|---|---|---|"]
    for number in numbers:
        for ex in lesson(number):
            wrong = "<br>".join(f"*{m.name}*: {m.hint}" for m in ex.mistakes)
            lines.append(f"| `{ex.id}` | {ex.title} | {ex.teaches} | {wrong} |".replace("\n", " "))
    return "\n".join(lines)


def check_answer(exercise_id: str, answer) -> Feedback:
    """Check ``answer`` against the exercise ``"NN.key"`` (the function behind :meth:`Book.check`)."""
    check_choice(exercise_id, "exercise", EXERCISES, what="exercise")
    return check(EXERCISES[exercise_id], answer)


class Book:
    """One lesson's exercises in a notebook: ``check`` each answer, ``summary`` at the end."""

    def __init__(self, number: str, solutions: bool = False):
        if not isinstance(solutions, bool):
            raise TypeError(f"solutions: expected True or False, got {type(solutions).__name__}")
        self.exercises = {ex.key: ex for ex in lesson(number)}
        self.number = str(number)
        self.solutions = solutions
        self.results: dict[str, Feedback] = {}

    def check(self, key: str, answer) -> Feedback:
        """Check the learner's ``answer`` (with ``solutions=True``, the reference instead) and return the feedback,
        which a notebook shows as the cell's result."""
        check_choice(key, "key", self.exercises, what=f"exercise of lesson {self.number}")
        exercise = self.exercises[key]
        feedback = check(exercise, exercise.reference if self.solutions else answer)
        if self.solutions:
            if not feedback.passed:
                raise AssertionError(f"the reference answer of {exercise.id} fails its own check: {feedback.hint}")
            feedback.note = "reference answer filled in: SOLUTIONS=True"
        self.results[key] = feedback
        return feedback

    def rows(self) -> list[dict]:
        return [{"exercise": ex.id, "title": ex.title,
                 "status": self.results[key].status if key in self.results else "not checked"}
                for key, ex in self.exercises.items()]

    def summary(self) -> Summary:
        """The lesson's exercises and their status, as a table."""
        return Summary(self.rows())


class Summary:
    """A lesson's exercise table: plain text in a terminal, a table in a notebook."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    @property
    def passed(self) -> int:
        return sum(r["status"] == "passed" for r in self.rows)

    def __str__(self) -> str:
        lines = [f"{r['exercise']:<28} {r['status']:<13} {r['title']}" for r in self.rows]
        return "\n".join(lines + [f"{self.passed}/{len(self.rows)} passed"])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        cells = "".join(f"<tr><td>{r['exercise']}</td><td>{r['title']}</td><td>{r['status']}</td></tr>"
                        for r in self.rows)
        return (f"<table><tr><th>exercise</th><th>title</th><th>status</th></tr>{cells}</table>"
                f"<p>{self.passed}/{len(self.rows)} passed</p>")


def book(number: str, solutions: bool = False) -> Book:
    """The exercise book of lesson ``number`` (``"02"``)."""
    return Book(number, solutions)
