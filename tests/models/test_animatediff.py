"""labkit.models.animatediff: the Shapes-world caption tokenizer of the tiny image and video denoisers."""

import pytest

from labkit.models import animatediff as I


def test_tokenize():
    ids = I.tokenize(["a red circle moving left", "a blue square moving up"])
    assert ids.shape == (2, I.MAX_WORDS)
    assert [I.WORDS[i] for i in ids[0, :5]] == "a red circle moving left".split()
    assert (ids[:, 5:] == 0).all()
    with pytest.raises(ValueError, match="one-object Shapes-world caption"):
        I.tokenize(["a purple circle moving left"])
