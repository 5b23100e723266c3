# Two entry points:
#   make demo   set up .venv if needed, then run the project's main job on its embedded default
#   make test   set up .venv if needed, then run the whole test suite
# Setup (scripts/setup_env.sh) installs system packages with apt, the pinned torch (CPU build on
# machines without CUDA), CycloneDDS 0.10.x and this package; it is a no-op when already done.

VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test .setup

.setup:
	@VENV=$(VENV) bash scripts/setup_env.sh

demo: .setup
	@$(VENV)/bin/dit4dit robot joints

test: .setup
	@$(PY) -m pytest $(PYTEST_ARGS)
