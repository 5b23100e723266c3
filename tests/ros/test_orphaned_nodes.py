"""Node processes never outlive the process that started them, and SIGTERM stops ``dit4dit`` cleanly.

A runner killed with SIGKILL cannot stop its children; each node started by a ``ProcessGroup``
then notices its parent is gone and shuts down through its normal lifecycle (the controller would
ramp out). SIGTERM to a ``dit4dit`` command runs its ``finally`` blocks (exit code 143).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PARENT = textwrap.dedent(
    """
    import sys, time
    from dit4dit_policy.robot.dds import loopback_config_xml
    from dit4dit_policy.ros.processes import ProcessGroup, node_argv

    group = ProcessGroup(sys.argv[1], env={"CYCLONEDDS_URI": loopback_config_xml()})
    proc = group.start("camera", node_argv("camera_node", int(sys.argv[2]), ["source=sim"]))
    print(proc.popen.pid, flush=True)
    time.sleep(120)
    """
)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state  # a zombie has exited


def _wait(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.mark.slow
def test_node_shuts_down_when_its_parent_is_killed(tmp_path, dds_domain):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path), str(dds_domain)], stdout=subprocess.PIPE, text=True
    )
    child = None
    try:
        child = int(parent.stdout.readline())
        log = tmp_path / "camera.log"
        assert _wait(lambda: "active" in log.read_text(errors="replace").lower(), 60.0), log.read_text()
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert _wait(lambda: not _running(child), 15.0), "the node outlived its killed parent"
        assert "parent process" in log.read_text(errors="replace")
    finally:
        if parent.poll() is None:
            parent.kill()
        if child is not None and _running(child):
            os.kill(child, signal.SIGKILL)


def test_sigterm_runs_cleanup_and_exits_143(dds_domain):
    # `dit4dit sim-bridge --fast --duration 60` runs long enough to be terminated mid-run.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dit4dit_policy.cli",
            "sim-bridge",
            "--fast",
            "--duration",
            "60",
            "--domain",
            str(dds_domain),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")},
    )
    time.sleep(6.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, (out, err)
    assert "terminated (SIGTERM)" in err
