"""Exercises of lesson 06 (to be written)."""

from __future__ import annotations

LESSON = "06"

EXERCISES = ()
