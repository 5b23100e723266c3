"""Shared test configuration.

* Every test process keeps DDS on loopback (CYCLONEDDS_URI set before anything opens a
  participant); tests that open DDS participants take the ``dds_domain`` fixture for a private
  domain id so that concurrent runs never see each other.
* Offscreen MuJoCo rendering uses EGL (Mesa) unless the environment chose otherwise.
* ``gpu`` tests skip without CUDA; ``hardware`` tests skip unless DIT4DIT_HARDWARE=1.
"""

from __future__ import annotations

import itertools
import os

import pytest

from dit4dit_policy.robot.dds import loopback_config_xml

os.environ["CYCLONEDDS_URI"] = loopback_config_xml()
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

_domain_counter = itertools.count()


def _next_domain_id() -> int:
    # 20..219, spread by pid so that two pytest processes on one machine rarely collide.
    return 20 + (os.getpid() * 37 + next(_domain_counter) * 11) % 200


@pytest.fixture
def dds_domain() -> int:
    """A DDS domain id private to this test (loopback-only config is already in the environment)."""
    return _next_domain_id()


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
