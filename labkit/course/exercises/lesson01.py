"""Exercises of lesson 01 (to be written)."""

from __future__ import annotations

LESSON = "01"

EXERCISES = ()
