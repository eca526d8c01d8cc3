import pytest

from labkit import NOTEBOOKS_DIR

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
TIMINGS: dict[str, float] = {}


def pytest_generate_tests(metafunc):
    if "notebook" in metafunc.fixturenames:
        metafunc.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.section("notebook run times (smoke mode)")
        for name, (kind, seconds) in sorted(TIMINGS.items()):
            terminalreporter.write_line(f"{name:<32} {kind:<10} {seconds:7.1f} s")


@pytest.fixture
def timings():
    return TIMINGS
