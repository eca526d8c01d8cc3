"""labkit.course.cli: `labkit run` refuses an unknown parameter, `labkit train` lists the trainers and refuses an
unknown one, `labkit doctor` reports the environment; every command refuses bad flags in one line, before any
heavy import, writing nothing."""

import json
import subprocess
import sys
import time

import pytest

import labkit
from labkit.course import cli


def test_cli_run_rejects_unknown_parameter_with_exit_2(capsys):
    code = cli.main(["run", "00_tour", "-p", "NO_SUCH_PARAM", "1", "--out", "/nonexistent/never-written"])
    assert code == 2
    assert "unknown parameter(s) ['NO_SUCH_PARAM']" in capsys.readouterr().err


def test_cli_train_lists_kinds_and_rejects_unknown(capsys):
    assert cli.main(["train", "list"]) == 0
    assert "vae" in capsys.readouterr().out
    assert cli.main(["train", "no-such-model"]) == 2


def test_doctor_reports_environment(capsys):
    code = cli.main(["doctor", "--json"])
    out = capsys.readouterr().out
    info = json.loads(out.strip().splitlines()[-1])
    assert info["env"]["torch"].startswith("2.") and "offline" in info["env"]
    assert code == (0 if info["ok"] else 1)


# ---------------------------------------------------------------------------------------- bad flags, every command
#: Each command with bad flags (``OUT`` is a fresh folder the command must not create): refused with exit status 2,
#: one line on stderr, no traceback, no torch import, well under a second of its own work.
REFUSALS = [
    ("run", ["run", "no-such-notebook", "--out", "OUT"], "no single notebook matches 'no-such-notebook'"),
    ("run", ["run", "00", "--cell-timeout", "0", "--out", "OUT"], "--cell-timeout: expected an integer >= 1, got 0"),
    ("run", ["run", "00", "-p", "NO_SUCH", "1", "--out", "OUT"], "unknown parameter(s) ['NO_SUCH']"),
    ("run", ["run", "00", "-p", "SMOKE", "maybe", "--out", "OUT"], "parameter SMOKE expects bool"),
    ("run", ["run", "00", "--out", "data/outputs"], "--out: expected a folder outside"),
    ("run", ["run", "00", "-p", "SEED", "-1", "--out", "OUT"], "parameter SEED: expected a seed in [0, 2**32)"),
    ("sweep", ["sweep", "00", "--out", "OUT"], "-p: expected at least one"),
    ("sweep", ["sweep", "00", "-p", "GALLERY", "4,0", "--out", "OUT"], "parameter GALLERY: expected an integer >= 1, got 0"),
    ("sweep", ["sweep", "00", "-p", "SMOKE", "true,", "--out", "OUT"], "got an empty value for ['SMOKE']"),
    ("sweep", ["sweep", "99", "-p", "SMOKE", "true", "--out", "OUT"], "no single notebook matches '99'"),
    ("sweep", ["sweep", "00", "-p", "SMOKE", "true", "--executor", "dsak", "--out", "OUT"],
     "--executor: unknown executor 'dsak' (did you mean 'dask'?)"),
    ("sweep", ["sweep", "00", "-p", "SMOKE", "true", "--scheduler", "tcp://127.0.0.1:8786", "--out", "OUT"],
     "--scheduler: only with --executor dask, got --executor local"),
    ("sweep", ["sweep", "00", "-p", "SMOKE", "true", "--executor", "dask", "--workers", "0", "--out", "OUT"],
     "--workers: expected an integer >= 1, got 0"),
    ("train", ["train", "t2v", "--steps", "-5", "--out", "OUT"], "--steps: expected an integer >= 1, got -5"),
    ("train", ["train", "t2v", "--batch", "0", "--out", "OUT"], "--batch: expected an integer >= 1, got 0"),
    ("train", ["train", "t2v", "--lr", "nan", "--out", "OUT"], "--lr: expected a finite number > 0, got nan"),
    ("train", ["train", "t2v", "--seed", "-1", "--out", "OUT"], "--seed: expected a seed in [0, 2**32), got -1"),
    ("train", ["train", "i2v", "--cfg-dropout", "1", "--out", "OUT"], "--cfg-dropout: expected a finite number in"),
    ("train", ["train", "vae", "--kind", "3d", "--latent-noise", "2", "--out", "OUT"], "--latent-noise: expected"),
    ("train", ["train", "svd", "--vae-steps", "-1", "--out", "OUT"], "--vae-steps: expected an integer >= 0"),
    ("train", ["train", "orbit", "--single-prob", "inf", "--out", "OUT"], "--single-prob: expected"),
    ("train", ["train", "features", "--batch-size", "0", "--out", "OUT"], "--batch-size: expected an integer >= 1"),
    ("train", ["train", "image-unet", "--threads", "0", "--out", "OUT"], "--threads: expected an integer >= 1"),
    ("train", ["train", "t2w", "--out", "OUT"], "unknown trainer 't2w' (did you mean 't2v'?)"),
    ("train", ["train", "t2v", "--out", "data"], "--out: expected a folder outside"),
    ("train", ["train", "t2v", "--ship", "data/models/tiny-t2v", "--out", "OUT"], "data/models/tiny-t2v exists"),
    ("train", ["train", "t2v", "--init-from", "data", "--out", "OUT"], "--init-from: expected a folder with"),
    ("ship", ["ship", "OUT", "data/models/new-model"], "SRC: expected an existing run folder"),
    ("ship", ["ship", "data/models/tiny-t2v", "data/models/new-model"], "SRC: expected a run folder with RUN.json"),
    ("bench", ["bench", "attention_cots"], "unknown benchmark 'attention_cots' (did you mean 'attention_cost'?)"),
    ("doctor", ["doctor", "--jsn"], "unrecognized arguments: --jsn"),
    ("card", ["card", "OUT"], "FOLDER: expected an existing pipeline folder"),
]

_RUN = ("import sys, time\nt0 = time.perf_counter()\nfrom labkit.course.cli import main\ntry:\n"
        "    code = main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
        "print(round(time.perf_counter() - t0, 3), 'torch' in sys.modules)\nsys.exit(code)")


def _data_snapshot() -> dict:
    return {str(p): p.stat().st_mtime_ns for p in labkit.DATA_DIR.rglob("*")}


@pytest.mark.parametrize("command,argv,message", REFUSALS, ids=[" ".join(r[1][:3]) for r in REFUSALS])
def test_every_command_refuses_bad_flags_in_one_line_before_any_work(command, argv, message, tmp_path):
    out = tmp_path / "out"
    argv = [str(out) if a == "OUT" else a for a in argv]
    before = _data_snapshot()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _RUN, *argv], capture_output=True, text=True, timeout=120,
                          cwd=labkit.PROJECT_ROOT)
    seconds = time.perf_counter() - start
    inside, torch_loaded = proc.stdout.split()[-2:]
    print(f"labkit {' '.join(argv)}: exit {proc.returncode}, {seconds:.2f} s (process), {inside} s (in main)")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and proc.stderr.startswith(f"labkit {command}")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert torch_loaded == "False" and float(inside) < 1.0
    assert not out.exists() and _data_snapshot() == before
