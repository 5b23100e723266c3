"""Helpers for the controller tests: fake-robot subprocess, controller on loopback DDS, chunk sources."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.robot.controller import ControllerConfig, G1Controller
from dit4dit_policy.robot.grippers.factory import GripperConfig
from dit4dit_policy.robot.link import LinkConfig
from dit4dit_policy.robot.loop import LoopConfig
from dit4dit_policy.robot.scheduler import SchedulerConfig
from dit4dit_policy.robot.supervisor import State, SupervisorConfig

HERE = Path(__file__).resolve().parent
RATE_HZ = 250.0
V_MAX = 3.0  # safety.SafetyConfig default [rad/s]
INIT_Q = [0.1, 0.15, -0.1, 0.3, 0.0, 0.05, -0.05] * 2


class FakeRobotProcess:
    """The fake G1 (tests/robot/g1_fake_robot.py) in its own process."""

    def __init__(self, domain: int, report: Path, **options: object) -> None:
        self.report_path = report
        args = [
            sys.executable,
            str(HERE / "g1_fake_robot.py"),
            "--domain",
            str(domain),
            "--report",
            str(report),
            "--step",
            str(V_MAX / RATE_HZ),
            "--weight-step",
            str(1.0 / RATE_HZ / 2.0),
            "--margin",
            "0.05",
            "--init",
            *[str(q) for q in INIT_Q],
        ]
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self) -> dict:
        """Terminate it and return its report."""
        if self.proc.poll() is None:
            self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        if not self.report_path.exists():
            raise AssertionError(f"fake robot wrote no report; output:\n{out}")
        return json.loads(self.report_path.read_text())


def make_controller(domain: int, **overrides: object) -> G1Controller:
    """A controller on ``domain`` (loopback via CYCLONEDDS_URI), sim grippers, short timeouts."""
    sup = dict(ramp_in_s=2.0, ramp_out_s=2.0, start_pose=[*INIT_Q, 1.0, 1.0], hold_timeout_s=1.0)
    sup.update(overrides.pop("supervisor", {}))
    config = ControllerConfig(
        link=LinkConfig(domain_id=domain, interface=None, **overrides.pop("link", {})),
        loop=LoopConfig(rate_hz=RATE_HZ),
        supervisor=SupervisorConfig(**sup),
        scheduler=SchedulerConfig(**overrides.pop("scheduler", {})),
        grippers=GripperConfig(kind="sim"),
        **overrides,
    )
    return G1Controller(config)


def wait_state(controller: G1Controller, state: State, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if controller.supervisor.state is state:
            return
        time.sleep(0.01)
    raise AssertionError(
        f"controller never reached {state.value}; now {controller.supervisor.state.value}; "
        f"diagnostics: {controller.diagnostics()}"
    )


def policy_chunk(now_ns: int, amplitude: float = 0.05, latency_s: float = 0.03) -> schema.ActionChunk:
    """A 16-point chunk around INIT_Q with a slow sinusoid, stamped ``latency_s`` in the past."""
    stamp = now_ns - int(latency_s * 1e9)
    t = stamp * 1e-9 + np.arange(schema.ACTION_HORIZON) * schema.ACTION_DT_S
    pos = np.tile(np.array([*INIT_Q, 0.6, 0.6]), (schema.ACTION_HORIZON, 1))
    pos[:, :14] += amplitude * np.sin(2 * np.pi * 0.4 * t)[:, None]
    return schema.ActionChunk.from_positions(pos, stamp)


class ChunkSource:
    """A policy stand-in submitting a chunk every ``period_s`` until killed."""

    def __init__(self, controller: G1Controller, period_s: float = 0.15) -> None:
        self.controller = controller
        self.period_s = period_s
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.controller.submit_chunk(policy_chunk(time.time_ns()))
            self.sent += 1
            self._stop.wait(self.period_s)

    def kill(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def weights_and_q(report: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t (N,), weight (N,), arm q (N, 14)) of every command the fake robot received."""
    series = np.array(report["series"], dtype=np.float64).reshape(-1, 16)
    return series[:, 0], series[:, 1], series[:, 2:]
