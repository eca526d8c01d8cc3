"""labkit.data.splits: one seed rule, disjoint splits, held-out colour x shape x direction combinations."""

from labkit import data
from labkit.data import splits as splits_data


def test_splits_are_disjoint_and_hold_out_combos():
    seeds = {s: {splits_data.clip_seed(s, i) for i in range(200)} for s in ("train", "val", "test")}
    assert not (seeds["train"] & seeds["val"]) and not (seeds["train"] & seeds["test"])
    train = data.ShapesWorld("train", length=600, speeds=False)
    seen = {tuple(train.caption(i).split()[1:3] + [train.caption(i).split()[4]]) for i in range(600)}
    assert not seen & data.HELDOUT_COMBOS
    test = data.ShapesWorld("test", length=len(data.ALL_COMBOS), speeds=False)
    covered = {tuple(test.caption(i).split()[1:3] + [test.caption(i).split()[4]]) for i in range(len(test))}
    assert covered == set(data.ALL_COMBOS)
    held = data.ShapesWorld("heldout", length=14)
    assert {tuple(held.caption(i).split()[1:3] + [held.caption(i).split()[4]]) for i in range(14)} == set(data.HELDOUT_COMBOS)
