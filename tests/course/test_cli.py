"""labkit.course.cli: `labkit run` refuses an unknown parameter, `labkit train` lists the trainers and refuses an
unknown one, `labkit doctor` reports the environment."""

import json

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
