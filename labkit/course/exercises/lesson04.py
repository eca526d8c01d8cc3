"""Exercises of lesson 04 (to be written)."""

from __future__ import annotations

LESSON = "04"

EXERCISES = ()
