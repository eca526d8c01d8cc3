# Video Diffusion Lab — the two README commands and friends. Each target sets itself up in .venv/.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.labkit-installed
export HF_HUB_OFFLINE ?= 1

.PHONY: course test lab smoke setup wheels browser-deps clean

course: setup  ## run the whole course headless; writes outputs/ and outputs/report.{md,html}
	$(BIN)/labkit run

test: setup browser-deps  ## set up and run every test (unit, notebooks in smoke mode, nbval, browser)
	@$(BIN)/python -m pytest -p no:cacheprovider; code=$$?; \
	  if [ $$code -eq 5 ]; then echo "pytest collected no tests: that is a failure"; exit 1; fi; exit $$code

lab: setup  ## open the notebooks in JupyterLab
	JUPYTER_PATH=$(VENV)/share/jupyter $(BIN)/jupyter lab notebooks/

smoke: setup  ## the whole course with tiny settings (what CI executes)
	$(BIN)/labkit run --smoke

setup: $(STAMP)

# torch first, pinned to the CPU wheel (an unpinned torch would pull gigabytes of CUDA), then the project.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev,ui]"
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 --display-name "Python 3 (labkit)" >/dev/null
	touch $(STAMP)

wheels:  ## download every package setup installs into wheels/, for laptops with no network (docs/workshop.md)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip download --quiet --dest wheels pip "setuptools>=77" torch==2.13.0 ".[dev,ui]"

browser-deps:  ## Debian's chromium for the real-browser test (skipped with a reason if it cannot be installed)
	@sh tools/install_chromium.sh

clean:
	rm -rf $(VENV) outputs
