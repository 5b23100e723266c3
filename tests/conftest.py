"""Shared test configuration.

* Every test process keeps DDS on loopback (CYCLONEDDS_URI set before anything opens a
  participant); tests that open DDS participants take the ``dds_domain`` fixture for a private
  domain id so that concurrent runs never see each other.
* Offscreen MuJoCo rendering uses EGL (Mesa) unless the environment chose otherwise.
* ``gpu`` tests skip without CUDA; ``hardware`` tests skip unless DIT4DIT_HARDWARE=1.
"""

from __future__ import annotations

import fcntl
import os
import random
import tempfile
from pathlib import Path

import pytest

from dit4dit_policy.robot.dds import loopback_config_xml

os.environ["CYCLONEDDS_URI"] = loopback_config_xml()
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

_LOCK_DIR = Path(tempfile.gettempdir()) / "dit4dit-dds-domains"


@pytest.fixture
def dds_domain():
    """A DDS domain id private to this test, reserved machine-wide for the test's duration.

    Each id in 20..219 has a lock file; the fixture holds an exclusive ``flock`` on one, so
    concurrent pytest runs on the same machine never share a domain (the loopback-only config is
    already in the environment).
    """
    _LOCK_DIR.mkdir(exist_ok=True)
    candidates = list(range(20, 220))
    random.Random(os.getpid() ^ os.urandom(4)[0]).shuffle(candidates)
    for domain in candidates:
        handle = (_LOCK_DIR / f"{domain}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        try:
            yield domain
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        return
    raise RuntimeError("no free DDS domain id in 20..219")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_cuda = False
    if any("gpu" in item.keywords for item in items):
        try:
            import torch

            has_cuda = torch.cuda.is_available()
        except ImportError:
            has_cuda = False
    hardware = os.environ.get("DIT4DIT_HARDWARE") == "1"
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))
        if "hardware" in item.keywords and not hardware:
            item.add_marker(pytest.mark.skip(reason="needs the robot; set DIT4DIT_HARDWARE=1"))
