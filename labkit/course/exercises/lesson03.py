"""Exercises of lesson 03 (to be written)."""

from __future__ import annotations

LESSON = "03"

EXERCISES = ()
