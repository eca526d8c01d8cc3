"""How fast each entry point refuses a bad argument: every ``labkit`` command with a bad flag, and
``labkit.models.load`` with a mistyped name, each in a fresh Python process (the import cost included).

Prints one row per refusal: the exit status (2 for the CLI), the seconds (a command: from process start to exit;
a Python call: the call alone, after its module was imported, as in a notebook) and the one-line message. Run with ``python benchmarks/refusals.py`` (or ``labkit bench refusals``).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

from labkit import PROJECT_ROOT

#: (what, argv after ``python -m labkit.course.cli`` or a ``-c`` snippet)
CLI = [
    ("run: range", ["run", "04", "-p", "TRAIN_STEPS", "-5", "--out", "{out}"]),
    ("run: name", ["run", "04_trian", "--out", "{out}"]),
    ("sweep: range", ["sweep", "00", "-p", "GALLERY", "4,0", "--out", "{out}"]),
    ("sweep: executor", ["sweep", "00", "-p", "SEED", "0,1", "--executor", "dsak", "--out", "{out}"]),
    ("train: range", ["train", "t2v", "--steps", "-5", "--out", "{out}"]),
    ("train: nan", ["train", "t2v", "--lr", "nan", "--out", "{out}"]),
    ("train: choice", ["train", "vae", "--kind", "4d", "--out", "{out}"]),
    ("train: kind", ["train", "t2w"]),
    ("ship: folder", ["ship", "/no/such/run", "data/models/x"]),
    ("card: folder", ["card", "/tmp"]),
    ("bench: name", ["bench", "no_such_bench"]),
    ("exercises: lesson", ["exercises", "12"]),
]
#: (what, the import, the call): the call is timed on its own, after its module is imported (as in a notebook)
PYTHON = [
    ("models.load: name", "from labkit import models", "models.load('tiny-t2w')"),
    ("generate: guidance nan", "import math\nfrom labkit.models import cogvideox",
     "cogvideox.generate(None, 'a red circle moving right', guidance_scale=math.nan)"),
    ("load_pipeline: hub id", "from labkit.inference import loading", "loading.load_pipeline('THUDM/CogVideoX-5b')"),
]
TIMED_CALL = """import sys, time
{setup}
start = time.perf_counter()
try:
    {call}
except Exception as err:
    print(f"{{time.perf_counter() - start:.4f}} {{type(err).__name__}}: {{str(err).splitlines()[0]}}", file=sys.stderr)
"""


def _time(argv: list[str]) -> tuple[int, float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)
    seconds = time.perf_counter() - start
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return done.returncode, seconds, lines[-1] if lines else ""


def main() -> None:
    out = tempfile.mkdtemp(prefix="refusals-")
    rows = [(what, *_time([sys.executable, "-m", "labkit.course.cli", *(a.format(out=out) for a in argv)]))
            for what, argv in CLI]
    for what, setup, call in PYTHON:
        code, process_seconds, line = _time([sys.executable, "-c", TIMED_CALL.format(setup=setup, call=call)])
        seconds, _, message = line.partition(" ")
        rows.append((what + " (call)", "raise" if code == 0 and message else code, float(seconds), message))
    print(f"{'entry point':<32} {'exit':>5} {'seconds':>8}  message")
    for what, code, seconds, message in rows:
        print(f"{what:<32} {code:>5} {seconds:8.3f}  {message[:110]}")
    print(f"slowest refusal: {max(r[2] for r in rows):.2f} s; python -c 'pass' for scale: "
          f"{_time([sys.executable, '-c', 'pass'])[1]:.2f} s")


if __name__ == "__main__":
    main()
