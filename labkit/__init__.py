"""labkit: the helper package of Video Diffusion Lab.

Each module owns one idea of the course and says which notebook teaches it:

- ``labkit.video``   the video tensor convention, conversions, saving and inline display (00_tour)
- ``labkit.data``    the procedural Shapes world of captioned clips (00_tour)
- ``labkit.runner``  executes the notebooks with papermill and writes the report (README)
- ``labkit.record``  how a notebook reports its key numbers and videos to the runner
- ``labkit.manifest`` sha256 and provenance of everything shipped in ``data/``

Heavy imports (torch, diffusers) happen inside the modules, so ``import labkit`` stays cheap.
"""

from pathlib import Path

__version__ = "0.1.0"

#: Root of a source checkout (where ``data/`` and ``notebooks/`` live).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
OUTPUTS_DIR = PROJECT_ROOT / "outputs"
