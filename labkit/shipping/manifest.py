"""``data/MANIFEST``: every shipped file with its size, sha256 and the exact command that made it.

The manifest is a tab-separated table with a header line::

    path  bytes  sha256  command  seed  seconds  hardware  created

``path`` is relative to ``data/``. Trainers call :func:`add_files` after writing a model folder (with
``replace=True`` when the folder replaces an older one: its stale lines go in the same write); :func:`remove_files`
drops a folder's lines; :func:`verify` (used by ``labkit doctor`` and the model registry) recomputes the hashes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from labkit import DATA_DIR

__all__ = ["COLUMNS", "Entry", "sha256_file", "hardware_description", "read_manifest", "add_files", "remove_files",
           "verify"]


COLUMNS = ("path", "bytes", "sha256", "command", "seed", "seconds", "hardware", "created")


@dataclass(frozen=True)
class Entry:
    path: str
    bytes: int
    sha256: str
    command: str
    seed: str
    seconds: str
    hardware: str
    created: str


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hardware_description() -> str:
    """A one-line description of where a command ran, for provenance (CPU model and cores, or the GPU)."""
    import torch  # lazy: the manifest is read by fast paths (the registry, `labkit doctor`) that need no torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA), torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} CPU"


def _clean(text) -> str:
    return str(text).replace("\t", " ").replace("\n", " ")


def read_manifest(manifest=None) -> dict[str, Entry]:
    """``{path: Entry}`` from a manifest file (empty when it does not exist)."""
    manifest = Path(manifest or DATA_DIR / "MANIFEST")
    if not manifest.exists():
        return {}
    lines = manifest.read_text(encoding="utf-8").splitlines()
    if not lines or tuple(lines[0].split("\t")) != COLUMNS:
        raise ValueError(f"{manifest}: expected a header line with columns {COLUMNS}")
    entries = {}
    for line in lines[1:]:
        if line.strip():
            values = line.split("\t")
            entry = Entry(values[0], int(values[1]), *values[2:])
            entries[entry.path] = entry
    return entries


def _write(manifest: Path, entries: dict[str, Entry]) -> None:
    rows = ["\t".join(COLUMNS)]
    rows += ["\t".join(_clean(v) for v in asdict(e).values()) for _, e in sorted(entries.items())]
    fd, tmp = tempfile.mkstemp(dir=manifest.parent, prefix=".MANIFEST-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")
    os.replace(tmp, manifest)


def _inside(folder, data_dir) -> tuple[Path, Path]:
    """``(folder, data_dir)`` resolved; a ``ValueError`` when ``folder`` is not inside ``data_dir``."""
    data_dir = Path(data_dir or DATA_DIR).resolve()
    folder = Path(folder).resolve()
    if data_dir not in (folder, *folder.parents):
        raise ValueError(f"expected a path inside {data_dir}, got {folder}")
    return folder, data_dir


def _under(entries: dict[str, Entry], prefix: str) -> list[str]:
    """The manifest paths of the file ``prefix`` or of the files in the folder ``prefix``."""
    return [p for p in entries if p == prefix or p.startswith(prefix + "/")]


def _update(data_dir: Path, change) -> None:
    """Apply ``change(entries)`` (in place) to ``data_dir/MANIFEST`` under a file lock; written atomically."""
    manifest = data_dir / "MANIFEST"
    with open(data_dir / ".MANIFEST.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = read_manifest(manifest)
        change(entries)
        _write(manifest, entries)


def add_files(folder, command: str, seed, seconds: float, hardware: str | None = None,
              data_dir=None, replace: bool = False) -> list[Entry]:
    """Record every file under ``folder`` (inside ``data_dir``) in the manifest, with its provenance.

    ``replace``: first drop every line of ``folder`` (the files of the version it replaces, some of which the new
    one may lack). The manifest is rewritten atomically under a file lock, so concurrent trainers cannot corrupt it.
    """
    folder, data_dir = _inside(folder, data_dir)
    hardware = hardware or hardware_description()
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    new = [Entry(str(p.relative_to(data_dir)), p.stat().st_size, sha256_file(p), command, str(seed),
                 f"{seconds:.1f}", hardware, created) for p in files]

    def change(entries):
        for path in _under(entries, str(folder.relative_to(data_dir))) if replace else []:
            del entries[path]
        entries.update({e.path: e for e in new})

    _update(data_dir, change)
    return new


def remove_files(folder, data_dir=None) -> list[Entry]:
    """Drop the lines of ``folder`` (a file or folder inside ``data_dir``, on disk or not) from the manifest;
    returns the entries dropped."""
    folder, data_dir = _inside(folder, data_dir)
    dropped = []

    def change(entries):
        dropped.extend(entries.pop(p) for p in _under(entries, str(folder.relative_to(data_dir))))

    _update(data_dir, change)
    return dropped


def verify(prefix: str = "", data_dir=None) -> dict[str, str]:
    """Check shipped files against the manifest: ``{path: "ok" | "missing" | "sha256 mismatch"}``.

    ``prefix`` limits the check to paths starting with it (e.g. ``"models/vae-3d/"``).
    """
    data_dir = Path(data_dir or DATA_DIR)
    status = {}
    for path, entry in read_manifest(data_dir / "MANIFEST").items():
        if not path.startswith(prefix):
            continue
        file = data_dir / path
        if not file.exists():
            status[path] = "missing"
        else:
            status[path] = "ok" if sha256_file(file) == entry.sha256 else "sha256 mismatch"
    return status
