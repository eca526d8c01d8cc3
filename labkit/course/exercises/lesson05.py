"""Exercises of lesson 05 (to be written)."""

from __future__ import annotations

LESSON = "05"

EXERCISES = ()
