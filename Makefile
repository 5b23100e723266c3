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

# The main job: the node graph (simulator bridge, controller, camera, policy as processes over
# loopback DDS) runs rollouts of the easiest task with the bundled policy (the scripted expert when
# no bundled checkpoint is installed); results, videos and logs go to outputs/demo/.
demo: .setup
	@$(VENV)/bin/dit4dit sim --task close_drawer --rollouts 3 --out outputs/demo

test: .setup
	@$(PY) -m pytest $(PYTEST_ARGS)
