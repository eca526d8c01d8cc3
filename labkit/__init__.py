"""labkit: the helper package of Video Diffusion Lab.

The ideas a lesson teaches are flat modules here, each saying which notebook teaches it: :mod:`.video` (the
``(F, C, H, W)`` convention in [0, 1], 00; beside it :mod:`.checks`, the argument rules every entry point shares), :mod:`.compression` (00, 01), :mod:`.attention` and
:mod:`.attention_maps` (02), :mod:`.inflation` (02), :mod:`.schedules` and :mod:`.noise` (03), :mod:`.budgets`
and :mod:`.profiling` (05), :mod:`.multiview` (06). The machinery lives in packages named after their role:
:mod:`.data` (the procedural worlds), :mod:`.models` (tiny models from real diffusers classes, and the registry of
``data/models``), :mod:`.training`, :mod:`.evaluation`, :mod:`.metrics`, :mod:`.inference`, :mod:`.shipping`,
:mod:`.widgets` and :mod:`.course` (the ``labkit`` command, the runner, notebook tools and records). Nothing
imports upward; ``docs/architecture.md`` gives the layers and one line per module.

This file only defines the project paths, so ``import labkit`` stays cheap.
"""

from pathlib import Path

__version__ = "0.1.0"

#: Root of a source checkout (where ``data/`` and ``notebooks/`` live).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
OUTPUTS_DIR = PROJECT_ROOT / "outputs"
