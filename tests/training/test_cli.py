"""The one trainer shell (labkit train KIND): common flags checked once, RUN.json, one shipping path."""

import json
import subprocess
import sys
import types

import pytest

import labkit
from labkit import models
from labkit.shipping import manifest
from labkit.shipping import ship as shipping
from labkit.training import cli


def test_every_trainer_makes_a_registered_model_and_lists_it(capsys):
    assert {t.makes for t in cli.TRAINERS.values()} <= set(models.REGISTRY)
    from labkit.course.cli import main

    assert main(["train", "list"]) == 0
    out = capsys.readouterr().out
    assert all(kind in out and makes in out for kind, makes, _ in cli.trainer_table())
    assert "data/models/tiny-t2v" in out and "04_train_tiny_video_model" in out


@pytest.mark.parametrize("argv,message", [
    (["--steps", "-5"], "--steps: expected an integer >= 1, got -5"),
    (["--steps", "5", "--seed", "-1"], "--seed: expected a seed in [0, 2**32), got -1"),
    (["--threads", "0"], "--threads: expected an integer >= 1, got 0"),
    (["--ship", "data/models/tiny-t2v"], "data/models/tiny-t2v exists"),
    (["--ship", "/tmp/elsewhere"], "--ship: expected a folder inside"),
    (["--below-bars"], "--below-bars only applies with --ship"),
    (["--resume", "/no/such/run"], "--resume: expected an existing run folder"),
    (["--resume", "/tmp"], "--resume: expected a run folder with training_state"),
    (["--init-from", "/tmp"], "--init-from: expected a folder with model_index.json"),
    (["--out", "data"], "--out: expected a folder outside"),
    (["--batch", "0"], "--batch: expected an integer >= 1, got 0"),
    (["--lr", "nan"], "--lr: expected a finite number > 0, got nan"),
    (["--width", "40"], "--width: expected an integer >= 16, a multiple of 16, got 40"),
    (["--patch-size", "3"], "--patch-size: expected an integer in {1, 2, 4}, got 3"),
    (["--ema-decay", "1"], "--ema-decay: expected a finite number in [0, 1), got 1"),
    (["--world", "v3"], "--world: invalid choice: 'v3'"),
    (["--t-sampling", "logit"], "--t-sampling: invalid choice: 'logit'"),
    (["--posterior", "mode"], "--posterior: invalid choice: 'mode'"),
])
def test_bad_common_flags_are_refused_before_the_trainer_is_imported(argv, message, kind="t2v"):
    code = (f"import sys\nfrom labkit.training.cli import main\ntry:\n    main({kind!r}, sys.argv[1:])\n"
            "except SystemExit as e:\n    print('exit', e.code, 'labkit.training.t2v' in sys.modules, "
            "'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                         cwd=labkit.PROJECT_ROOT)
    assert out.stdout.strip() == "exit 2 False False", out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("argv,message", [
    (["--kind", "4d"], "--kind: invalid choice: '4d' (choose from '2d', '3d')"),
    (["--kind", "3d", "--spatial-factor", "2"], "--spatial-factor: invalid choice: 2 (choose from 4, 8)"),
    (["--kind", "3d", "--crops", "centre"], "--crops: invalid choice: 'centre'"),
])
def test_bad_vae_choices_are_refused_before_the_trainer_is_imported(argv, message):
    test_bad_common_flags_are_refused_before_the_trainer_is_imported(argv, message, kind="vae")


@pytest.mark.parametrize("kind", [k for k, t in cli.TRAINERS.items() if t.choices])
def test_the_shells_choices_are_the_trainer_modules_own(kind):
    import importlib

    trainer = cli.TRAINERS[kind]
    parser = cli.build_parser(trainer, importlib.import_module(trainer.module))
    theirs = {a.dest: tuple(a.choices) for a in parser._actions if a.choices is not None}
    assert {name: tuple(sorted(v)) for name, v in theirs.items()} == \
        {name: tuple(sorted(v)) for name, v in trainer.choices.items()}


def test_an_unknown_trainer_is_refused(capsys):
    assert cli.main("t2w", []) == 2
    err = capsys.readouterr().err
    assert "unknown trainer 't2w' (did you mean 't2v'?)" in err and "'vae'" in err


def test_parsed_flags_and_their_defaults_are_checked_by_name():
    trainer = cli.TRAINERS["t2v"]
    args = cli.common_parser(trainer).parse_args([])
    args.batch, args.width = 0, 96
    with pytest.raises(SystemExit):
        cli._check(cli.common_parser(trainer), args, trainer)
    args.batch = 4
    cli._check(cli.common_parser(trainer), args, trainer)  # passes: a default of None or a good value


def test_out_inside_data_is_the_recorded_form_of_ship():
    args = cli.common_parser(cli.TRAINERS["image-unet"]).parse_args(["--out", "data/models/some-new-model"])
    cli.check_common(args, cli.TRAINERS["image-unet"])
    assert args.ship.name == "some-new-model" and args.out == labkit.OUTPUTS_DIR / "models" / "tiny-image-unet"


@pytest.fixture()
def fake_trainer(tmp_path, monkeypatch):
    """A trainer module of our own (registered as kind 'fake') and a data/ folder of our own."""
    data = tmp_path / "data"
    (data / "models").mkdir(parents=True)
    for module in (labkit, cli, shipping, manifest):
        monkeypatch.setattr(module, "DATA_DIR", data)
    module = types.ModuleType("fake_trainer_module")
    module.__doc__ = "A fake trainer."
    module.add_arguments = lambda parser, kind: parser.add_argument("--quality", type=float, default=1.0)

    def run(args):
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "weights.txt").write_text(f"{args.steps} {args.seed}")
        (args.out / "training_state").mkdir(exist_ok=True)
        problem = "" if args.quality >= 0.5 else f"quality {args.quality} < 0.5"
        return cli.TrainedRun({"steps": args.steps, "quality": args.quality}, problem)

    module.run = run
    monkeypatch.setitem(sys.modules, "fake_trainer_module", module)
    monkeypatch.setitem(cli.TRAINERS, "fake", cli.Trainer("fake", "fake_trainer_module", "fake-model", "00_tour", 7))
    return data


def test_a_run_writes_its_record_and_ships_when_the_bars_are_met(fake_trainer, tmp_path):
    out = tmp_path / "run"
    assert cli.main("fake", ["--out", str(out), "--seed", "3", "--ship"]) == 0
    run = json.loads((out / "RUN.json").read_text())["runs"][0]
    assert run["command"] == f"labkit train fake --out {out} --seed 3 --ship"
    assert (run["seed"], run["steps"], run["quality"], run["bars_problem"]) == (3, 7, 1.0, "")
    shipped = fake_trainer / "models" / "fake-model"
    assert (shipped / "weights.txt").read_text() == "7 3"
    assert not (shipped / "training_state").exists() and not (shipped / "RUN.json").exists()
    provenance = json.loads((shipped / "PROVENANCE.json").read_text())
    assert provenance["bars_met"] is True and provenance["command"] == run["command"]
    assert "models/fake-model/weights.txt" in (fake_trainer / "MANIFEST").read_text()


def test_below_the_bars_nothing_ships_unless_told_and_then_it_says_so(fake_trainer, tmp_path, capsys):
    dest = fake_trainer / "models" / "fake-model"
    assert cli.main("fake", ["--out", str(tmp_path / "a"), "--quality", "0.2", "--ship"]) == 1
    assert not dest.exists() and "quality 0.2 < 0.5" in capsys.readouterr().err
    assert cli.main("fake", ["--out", str(tmp_path / "b"), "--quality", "0.2", "--ship", "--below-bars"]) == 0
    provenance = json.loads((dest / "PROVENANCE.json").read_text())
    assert provenance["bars_met"] is False and provenance["bars_problem"] == "quality 0.2 < 0.5"
