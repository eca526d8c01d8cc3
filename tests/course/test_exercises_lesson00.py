"""Lesson 00's clip exercise runs answers its own way: a clip must be a torch tensor, and an unfinished function is
still "not answered"."""

from __future__ import annotations

from labkit.course.exercises import check_answer


def test_an_unfinished_to_clip_is_not_answered():
    def to_clip(frames):
        ...

    fb = check_answer("00.to_clip", to_clip)
    assert not fb.answered and "return" in fb.hint


def test_a_numpy_clip_is_refused_with_its_type():
    fb = check_answer("00.to_clip", lambda frames: frames.permute(0, 3, 1, 2).numpy() / 255)
    assert not fb.passed and fb.answered and "torch.Tensor, got ndarray" in fb.hint
