"""Exercises of lesson 07 (to be written)."""

from __future__ import annotations

LESSON = "07"

EXERCISES = ()
