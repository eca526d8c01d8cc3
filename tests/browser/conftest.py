"""Real-browser test set-up: Debian's chromium driven by pytest-playwright, JupyterLab on 127.0.0.1.

``make test`` installs chromium with apt-get when it is missing (tools/install_chromium.sh). When it still is not
there, the browser tests are skipped with the reason printed.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from labkit import NOTEBOOKS_DIR

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def pytest_collection_modifyitems(config, items):
    if not os.path.exists(CHROMIUM):
        reason = f"no chromium at {CHROMIUM} (install Debian's chromium: sudo apt-get install chromium)"
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Chromium as root in a container needs --no-sandbox; background networking would try to reach the internet
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving a *copy* of the notebooks (autosave must not touch the repo)."""
    root = tmp_path_factory.mktemp("lab")
    for nb in NOTEBOOKS_DIR.glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)
    port = _free_port()
    env = {**os.environ, "JUPYTER_PATH": os.path.join(sys.prefix, "share", "jupyter"),
           "LABKIT_OUTPUT_DIR": str(root / "artifacts"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
         "--ServerApp.disable_check_xsrf=True", "--LabApp.news_url=None", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly",
        *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.terminate()
        pytest.fail("JupyterLab did not start within 60 s")
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
