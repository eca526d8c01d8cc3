"""labkit.shipping.ship: ship_checked ships a run only at the bars or when told, records the verdict in
PROVENANCE.json, leaves training state behind and never overwrites a shipped folder."""

import json

import pytest

from labkit.shipping.ship import ship_checked


def test_ship_checked_ships_only_at_the_bars_or_when_told_and_records_the_verdict(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "training_state").mkdir(parents=True)
    (run / "weights.safetensors").write_bytes(b"w")
    (run / "training_state" / "raw.safetensors").write_bytes(b"r")
    args = dict(command="labkit train x", seed=0, seconds=1.0, ignore=("training_state",))
    assert ship_checked(run, tmp_path / "below", "shape 40% < 90%", False, summary={}, **args) == 1
    assert "not shipping" in capsys.readouterr().err and not (tmp_path / "below").exists()
    assert ship_checked(run, tmp_path / "below", "shape 40% < 90%", True, summary={}, **args) == 0
    prov = json.loads((tmp_path / "below" / "PROVENANCE.json").read_text())
    assert (prov["bars_met"], prov["bars_problem"]) == (False, "shape 40% < 90%")
    assert "BELOW the bars" in capsys.readouterr().err
    assert ship_checked(run, tmp_path / "met", "", False, summary={}, **args) == 0
    assert json.loads((tmp_path / "met" / "PROVENANCE.json").read_text())["bars_met"] is True
    assert (tmp_path / "met" / "weights.safetensors").exists() and not (tmp_path / "met" / "training_state").exists()
    with pytest.raises(FileExistsError):  # never overwrites a shipped folder
        ship_checked(run, tmp_path / "met", "", False, summary={}, **args)
