"""labkit.shipping.ship: ship_checked ships a run only at the bars or when told, records the verdict in
PROVENANCE.json, leaves training state behind and never overwrites a shipped folder; --replace REASON replaces one
on purpose, atomically, with the reason and the old files' hashes recorded."""

import json
import os
import shlex
from pathlib import Path

import pytest

import labkit
from labkit.shipping import manifest, records
from labkit.shipping import ship as ship_module
from labkit.shipping.records import write_run_record
from labkit.shipping.ship import ship, ship_checked


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


@pytest.fixture()
def fake_data(tmp_path, monkeypatch):
    """A data/ folder of its own with one shipped folder ``models/m`` (a.bin, old.bin), so nothing touches the
    project's data/."""
    data = tmp_path / "data"
    for module in (labkit, manifest, records, ship_module):  # each reads DATA_DIR from its own namespace
        monkeypatch.setattr(module, "DATA_DIR", data)
    old = tmp_path / "old"
    old.mkdir()
    (old / "a.bin").write_bytes(b"old a")
    (old / "old.bin").write_bytes(b"only in the old version")
    ship(old, data / "models" / "m", "labkit train x --old", 0, 1.0, hardware="test")
    return data


def _new_run(tmp_path):
    new = tmp_path / "new"
    new.mkdir()
    (new / "a.bin").write_bytes(b"new a")
    (new / "b.bin").write_bytes(b"new b")
    return new


def test_replace_swaps_the_folder_and_records_the_reason_and_the_old_hashes(tmp_path, fake_data):
    dest = fake_data / "models" / "m"
    old_sha = {p.split("/")[-1]: e.sha256 for p, e in manifest.read_manifest(fake_data / "MANIFEST").items()}
    ship(_new_run(tmp_path), dest, "labkit train x --new", 1, 2.0, hardware="test", replace="retrained on world v2")
    assert sorted(p.name for p in dest.iterdir()) == ["PROVENANCE.json", "a.bin", "b.bin"]
    assert (dest / "a.bin").read_bytes() == b"new a"
    prov = json.loads((dest / "PROVENANCE.json").read_text())
    assert prov["command"] == "labkit train x --new"
    assert prov["replaces"] == {"reason": "retrained on world v2", "old_sha256": old_sha}
    assert set(old_sha) == {"PROVENANCE.json", "a.bin", "old.bin"}
    entries = manifest.read_manifest(fake_data / "MANIFEST")
    assert sorted(entries) == ["models/m/PROVENANCE.json", "models/m/a.bin", "models/m/b.bin"]  # no stale line
    assert {e.command for e in entries.values()} == {"labkit train x --new"}
    assert set(manifest.verify("models/m/", fake_data).values()) == {"ok"}
    assert [p.name for p in dest.parent.iterdir()] == ["m"], "no temporary or old folder is left beside it"


def test_replace_needs_a_reason_and_an_existing_folder(tmp_path, fake_data):
    new = _new_run(tmp_path)
    for reason in ("", "  "):
        with pytest.raises(ValueError, match="--replace needs a reason"):
            ship(new, fake_data / "models" / "m", "x", 0, 1.0, hardware="test", replace=reason)
    with pytest.raises(FileNotFoundError, match="does not exist; nothing to replace"):
        ship(new, fake_data / "models" / "missing", "x", 0, 1.0, hardware="test", replace="a reason")
    with pytest.raises(FileExistsError, match="refusing to overwrite .*--replace REASON"):
        ship(new, fake_data / "models" / "m", "x", 0, 1.0, hardware="test")
    assert (fake_data / "models" / "m" / "old.bin").exists() and not (fake_data / "models" / "missing").exists()


def test_a_failed_swap_leaves_the_old_folder_and_its_manifest_lines(tmp_path, fake_data, monkeypatch):
    dest = fake_data / "models" / "m"
    before = (fake_data / "MANIFEST").read_text()
    real_replace, calls = os.replace, []

    def failing_replace(src, dst):  # 1st call: the old folder moves aside; 2nd: the new one moves in, and fails
        calls.append(Path(src).name)
        if len(calls) == 2:
            raise OSError("disk full (simulated) while swapping the new folder in")
        return real_replace(src, dst)

    monkeypatch.setattr(ship_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        ship(_new_run(tmp_path), dest, "x", 0, 1.0, hardware="test", replace="a reason")
    assert sorted(p.name for p in dest.iterdir()) == ["PROVENANCE.json", "a.bin", "old.bin"]
    assert (dest / "a.bin").read_bytes() == b"old a" and (fake_data / "MANIFEST").read_text() == before
    assert len(calls) == 3 and calls[2].startswith(".m-old-"), "the old folder was moved back"
    assert [p.name for p in dest.parent.iterdir()] == ["m"], "the temporary folders are cleaned up"


def test_labkit_ship_replace_records_the_reason_in_the_command(tmp_path, fake_data, capsys):
    from labkit.course.cli import main

    new = _new_run(tmp_path)
    write_run_record(new, "labkit train x --new", 1, 2.0)
    dest = fake_data / "models" / "m"
    assert main(["ship", str(new), str(dest), "--replace", ""]) == 2
    assert "--replace needs a reason" in capsys.readouterr().err
    reason = "fixes the old run's bug"
    assert main(["ship", str(new), str(dest), "--replace", reason]) == 0
    prov = json.loads((dest / "PROVENANCE.json").read_text())
    assert prov["command"].endswith(f" --replace {shlex.quote(reason)}")
    assert prov["replaces"]["reason"] == reason and "old.bin" in prov["replaces"]["old_sha256"]
    assert not (dest / "old.bin").exists()


def test_remove_files_drops_one_folders_lines_only(tmp_path, fake_data):
    sibling = fake_data / "models" / "m2"
    sibling.mkdir()
    (sibling / "a.bin").write_bytes(b"a")
    manifest.add_files(sibling, "labkit train y", 0, 1.0, "test", data_dir=fake_data)
    dropped = manifest.remove_files(fake_data / "models" / "m", data_dir=fake_data)
    assert sorted(e.path for e in dropped) == ["models/m/PROVENANCE.json", "models/m/a.bin", "models/m/old.bin"]
    assert sorted(manifest.read_manifest(fake_data / "MANIFEST")) == ["models/m2/a.bin"]
    with pytest.raises(ValueError, match="expected a path inside"):
        manifest.remove_files(tmp_path / "elsewhere", data_dir=fake_data)
