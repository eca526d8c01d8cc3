"""labkit.shipping.records and .ship: run records, chains of runs, shipping a chain (`labkit ship`)."""

import json

import pytest

import labkit
from labkit.shipping import manifest, records, ship
from labkit.shipping.records import RUN_RECORD, read_runs, run_chain, write_run_record
from labkit.shipping.ship import ship_chain
from labkit.training import cli


def _run(folder, command, seed=0, seconds=1.0, builds_on=(), append=False):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "weights.safetensors").write_bytes(command.encode())
    return write_run_record(folder, command, seed, seconds, builds_on=builds_on, append=append)


@pytest.fixture()
def fake_data(tmp_path, monkeypatch):
    """A data/ folder of its own, so shipping writes a MANIFEST there and not in the project's data/."""
    data = tmp_path / "data"
    (data / "models" / "base").mkdir(parents=True)
    (data / "models" / "base" / "config.json").write_text("{}")
    for module in (labkit, manifest, records, ship):  # each reads DATA_DIR from its own namespace
        monkeypatch.setattr(module, "DATA_DIR", data)
    return data


def test_run_record_skips_missing_and_own_folders_and_appends_only_when_told(tmp_path):
    a = tmp_path / "a"
    _run(a, "labkit train vae --seed 1", seed=1, builds_on=[None, a, tmp_path / "b"])
    runs = read_runs(a)
    assert [r["command"] for r in runs] == ["labkit train vae --seed 1"]
    assert runs[0]["builds_on"] == [str((tmp_path / "b").resolve())] and runs[0]["seed"] == 1
    _run(a, "labkit train t2v --resume a", append=True)
    assert [r["command"] for r in read_runs(a)] == ["labkit train vae --seed 1", "labkit train t2v --resume a"]
    _run(a, "labkit train vae --seed 2")  # a fresh run replaces the folder: its record starts anew
    assert [r["command"] for r in read_runs(a)] == ["labkit train vae --seed 2"]
    assert not list(a.glob(f".{RUN_RECORD}-*")), "the record is written atomically (no temporary left)"
    with pytest.raises(FileNotFoundError, match="not a folder"):
        write_run_record(tmp_path / "missing", "x", 0, 1.0)


def test_chain_lists_every_run_once_ancestors_first_and_stops_at_shipped_folders(tmp_path, fake_data):
    base = fake_data / "models" / "base"
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    _run(a, "A", seed=3, seconds=10, builds_on=[base])
    _run(b, "B", seed=4, seconds=20, builds_on=[a])
    _run(c, "C1", seed=5, seconds=30, builds_on=[b, a])  # a reached twice: listed once
    _run(c, "C2", seed=5, seconds=40, builds_on=[c], append=True)  # resumed into its own folder
    runs, shipped = run_chain(c)
    assert [r["command"] for r in runs] == ["A", "B", "C1", "C2"]
    assert shipped == [str(base.resolve())]
    (b / RUN_RECORD).unlink()
    with pytest.raises(FileNotFoundError, match=f"{b.name}/{RUN_RECORD}"):
        run_chain(c)


def test_ship_chain_records_the_whole_chain_in_provenance_and_manifest(tmp_path, fake_data):
    a, b = tmp_path / "a", tmp_path / "b"
    _run(a, "labkit train vae --out a", seed=3, seconds=10.5)
    _run(b, "labkit train vae --init-from a --out b", seed=4, seconds=20.0, builds_on=[a])
    dest = fake_data / "models" / "chained"
    ship_chain(b, dest, extra={"note": "kept"})
    info = json.loads((dest / "PROVENANCE.json").read_text())
    assert info["command"].startswith("labkit train vae --out a && labkit train vae --init-from a --out b && "
                                      "labkit ship ")
    assert info["seed"] == "3,4" and info["seconds"] == 30.5 and info["note"] == "kept"
    assert [r["seconds"] for r in info["runs"]] == [10.5, 20.0]
    assert not (dest / RUN_RECORD).exists(), "the run record is not shipped (PROVENANCE.json replaces it)"
    entries = manifest.read_manifest(fake_data / "MANIFEST")
    assert set(entries) == {"models/chained/PROVENANCE.json", "models/chained/weights.safetensors"}
    entry = entries["models/chained/weights.safetensors"]
    assert entry.command == info["command"] and entry.seed == "3,4" and float(entry.seconds) == 30.5
    assert entry.sha256 == manifest.sha256_file(dest / "weights.safetensors")
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        ship_chain(b, dest)


def test_ship_chain_carries_the_last_runs_verdict_and_refuses_a_run_below_the_bars(tmp_path, fake_data):
    run = tmp_path / "i2v"
    run.mkdir()
    (run / "training_state").mkdir()
    (run / "training_state" / "optimizer.safetensors").write_bytes(b"resumable state")
    (run / "model_index.json").write_text("{}")
    write_run_record(run, "labkit train i2v --eval 84", 0, 5.0, extra={"eval": {"n": 84, "kept": 0.7},
                                                                      "bars_problem": "bars not met: kept = 0.700 < 0.9"})
    with pytest.raises(ValueError, match="missed the bars .*kept = 0.700"):
        ship_chain(run, fake_data / "models" / "below")
    assert not (fake_data / "models" / "below").exists()
    ship_chain(run, fake_data / "models" / "below", below_bars_ok=True)
    info = json.loads((fake_data / "models" / "below" / "PROVENANCE.json").read_text())
    assert info["bars_met"] is False and info["eval"]["kept"] == 0.7 and info["command"].endswith("--below-bars")
    assert not (fake_data / "models" / "below" / "training_state").exists()
    write_run_record(run, "labkit train i2v --eval 84", 0, 5.0, extra={"eval": {"n": 84}, "bars_problem": ""})
    ship_chain(run, fake_data / "models" / "met")
    assert json.loads((fake_data / "models" / "met" / "PROVENANCE.json").read_text())["bars_met"] is True


def test_labkit_ship_cli_refuses_a_folder_without_its_record(tmp_path, fake_data, capsys):
    from labkit.course.cli import main

    (tmp_path / "plain").mkdir()
    assert main(["ship", str(tmp_path / "plain"), str(fake_data / "models" / "x")]) == 2
    assert "RUN.json" in capsys.readouterr().err and not (fake_data / "models" / "x").exists()
    _run(tmp_path / "ok", "labkit train orbit --steps 1")
    assert main(["ship", str(tmp_path / "ok"), str(fake_data / "models" / "x")]) == 0
    assert (fake_data / "models" / "x" / "weights.safetensors").exists()
    assert records.read_runs(tmp_path / "ok")[0]["command"] == "labkit train orbit --steps 1"


def test_labkit_train_vae_runs_record_a_chain_that_ships_with_both_commands(tmp_path, fake_data):
    first, second = tmp_path / "v1", tmp_path / "v2"
    tiny = ["--kind", "2d", "--steps", "1", "--full-steps", "0", "--batch", "1", "--val-every", "1000"]
    assert cli.main("vae", tiny + ["--seed", "3", "--out", str(first)]) == 0
    assert cli.main("vae", tiny + ["--seed", "4", "--init-from", str(first), "--out", str(second)]) == 0
    runs, shipped = run_chain(second)
    assert [r["seed"] for r in runs] == [3, 4] and shipped == []
    assert runs[1]["builds_on"] == [str(first.resolve())] and f"--init-from {first}" in runs[1]["command"]
    ship_chain(second, fake_data / "models" / "vae-chained")
    command = json.loads((fake_data / "models" / "vae-chained" / "PROVENANCE.json").read_text())["command"]
    assert command.count("labkit train vae") == 2 and "--seed 3" in command.split("&&")[0]
