"""Exercises of lesson 00 (to be written)."""

from __future__ import annotations

LESSON = "00"

EXERCISES = ()
