"""The evaluation protocol through the node graph: ``dit4dit eval sim --graph`` and the robot graph."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dit4dit_policy import schema
from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
from dit4dit_policy.evaluation.config import EvalConfig, ProtocolConfig, RecordingConfig, TaskSpec
from dit4dit_policy.evaluation.interface import AutomaticOperator, Mark, OperatorEvent, Outcome
from dit4dit_policy.evaluation.runner import run_protocol
from dit4dit_policy.evaluation.sim_setup import resolve_sim_tasks
from dit4dit_policy.robot.dds import loopback_config_xml
from dit4dit_policy.ros.eval_environment import GraphRolloutEnvironment, make_sim_graph_environment
from dit4dit_policy.ros.graph_client import GraphClient
from dit4dit_policy.ros.processes import ProcessGroup, node_argv
from dit4dit_policy.sim.env import READY_STATE

pytestmark = pytest.mark.slow

FAKE_ROBOT = Path(__file__).resolve().parents[1] / "robot" / "g1_fake_robot.py"


def test_two_scripted_rollouts_through_the_graph(tmp_path, dds_domain):
    config = resolve_sim_tasks(
        EvalConfig(protocol=ProtocolConfig(tasks=[TaskSpec("close_drawer")], rollouts_per_task=2, seed=5))
    )
    environment = make_sim_graph_environment(config, "scripted", "cpu", tmp_path, dds_domain)
    try:
        summary = run_protocol(
            config,
            environment,
            tmp_path,
            mode="sim-graph",
            checkpoint_id="scripted-expert",
            extra=environment.describe(),
        )
    finally:
        environment.close()
    assert summary.finished and summary.ran == 2
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    results = [line for line in lines if line["type"] == "rollout"]
    assert [r["seed"] for r in results] == [5, 6]
    assert all(r["outcome"] in ("success", "failure") for r in results)
    assert environment.session is not None and environment.session.monitor.violations == []
    recordings = LeRobotDataset(tmp_path / "recordings")
    assert recordings.num_episodes == 2
    episode = recordings.episode(0)
    assert episode.length > 10 and episode.task == "push the drawer closed"
    # Each rollout starts where the demonstrations start: the controller moved the arms back to the
    # ready pose after the ramp-in (the simulated robot lets them sag while the weight is < 1).
    for index in range(2):
        first = recordings.episode_data(index)["observation.state"][0]
        assert np.abs(first[schema.ARMS] - READY_STATE[schema.ARMS]).max() < 0.05, first


class _EstopOperator(AutomaticOperator):
    """An operator who presses the e-stop key in the first rollout and confirms every recovery.

    Like the terminal console's key thread, the e-stop calls ``environment.estop()`` itself.
    """

    interactive = True

    def __init__(self):
        super().__init__()
        self.rollouts = 0
        self.recoveries = 0
        self._estopped = False

    def wait_for_start(self, label):
        self.rollouts += 1
        return OperatorEvent.START

    def poll_event(self):
        if self.rollouts == 1 and not self._estopped:
            self._environment.estop()
            self._estopped = True
        return None

    def estopped(self):
        return self._estopped

    def clear_estop(self):
        self._estopped = False

    def judge(self, label, status, end_reason):
        return Mark(Outcome.FAILURE)

    def confirm_recovery(self):
        self.recoveries += 1
        return True


def _start_fake_robot(domain, report):
    """The fake G1 (tests/robot/g1_fake_robot.py): checks every command against the step, weight-ramp
    and limit bounds of the controller's defaults and writes its report to ``report`` on exit."""
    return subprocess.Popen(
        [
            sys.executable,
            str(FAKE_ROBOT),
            "--domain",
            str(domain),
            "--report",
            str(report),
            "--duration",
            "600",
            "--step",
            str(3.0 / 250.0),  # safety v_max at the 250 Hz loop
            "--weight-step",
            str(1.0 / 250.0 / 2.0),  # ramp_in_s = 2 s at 250 Hz
            "--margin",
            "0.05",
            "--init",
            *[str(q) for q in [0.1, 0.15, -0.1, 0.3, 0.0, 0.05, -0.05] * 2],
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_estop_recovery_on_the_robot_graph(tmp_path, dds_domain):
    """`[r] recover` after an e-stop on the robot graph: home() sends `reset`, the arms ramp out.

    The real controller node process drives the fake G1 (tests/robot/g1_fake_robot.py), which
    checks every command. An e-stop latched before the session (another console) and one pressed
    during a rollout are both recovered after the operator's confirmation.
    """
    d = dds_domain
    robot = _start_fake_robot(d, tmp_path / "robot.json")
    group = ProcessGroup(tmp_path / "logs", env={"CYCLONEDDS_URI": loopback_config_xml()})
    client = None
    try:
        params = [
            f"controller.link.domain_id={d}",
            "controller.link.interface=lo",
            "controller.grippers.kind=sim",
        ]
        group.start("controller", node_argv("controller_node", d, params), stop_grace_s=20.0)
        client = GraphClient(d, interface="lo", liveness_check=group.check)
        client.wait(lambda: client.controller_state == "idle", 60.0, "the controller node")
        # An e-stop latched before the session, from another console.
        other = GraphClient(d, interface="lo")
        try:
            other.wait(lambda: other.controller_state != "", 30.0, "diagnostics")
            other.command("estop")
            other.wait(lambda: other.controller_state == "estop", 10.0, "the e-stop")
        finally:
            other.close()
        environment = GraphRolloutEnvironment(client, record=False, home_timeout_s=30.0)
        config = EvalConfig(
            protocol=ProtocolConfig(
                tasks=[TaskSpec("hold_still", instruction="hold still", time_limit_s=1.0)],
                rollouts_per_task=2,
            ),
            recording=RecordingConfig(enabled=False),
        )
        operator = _EstopOperator()
        summary = run_protocol(
            config, environment, tmp_path / "results", mode="real", checkpoint_id="none", operator=operator
        )
        assert summary.finished and summary.ran == 2
        assert [r.end_reason.value for r in summary.results.final] == ["estop", "time_limit"]
        assert operator.recoveries == 2  # the e-stop found at the start and the one in rollout 1
        client.spin(1.0)
        assert client.controller_state == "idle" and not environment.estop_latched()
    finally:
        if client is not None:
            client.close()
        group.stop()
        if robot.poll() is None:
            robot.terminate()
        robot.communicate(timeout=30)
    log = (tmp_path / "logs" / "controller.log").read_text(errors="replace")
    assert "reset after e-stop: ramping out" in log  # the rollout's e-stop: ramp out, weight > 0
    assert "reset after e-stop (nothing commanded)" in log  # the e-stop latched while idle
    report = json.loads((tmp_path / "robot.json").read_text())
    assert report["received"] > 0 and report["violations"] == []


class _VerdictPauseOperator(AutomaticOperator):
    """An operator who looks at the final scene for ``pause_s`` before judging (noting when)."""

    def __init__(self, pause_s):
        super().__init__()
        self.pause_s = pause_s
        self.windows = []  # (start, end) of each verdict pause [time.monotonic()]

    def judge(self, label, status, end_reason):
        start = time.monotonic()
        time.sleep(self.pause_s)
        self.windows.append((start, time.monotonic()))
        return super().judge(label, status, end_reason)


def test_rollout_stop_holds_the_arms_until_the_verdict_on_the_robot_graph(tmp_path, dds_domain):
    """evaluate.launch.py's `operator_stop_holds`: the rollout's `stop` holds the arms (a grasped
    object stays grasped) through the verdict, far beyond hold_timeout_s; home()'s second `stop`
    ramps them out. Also: reset() of a running controller and Ctrl-C (deactivate) during the
    operator-stop hold both still ramp out — nothing waits for a stop that only holds.

    The real controller node process drives the fake G1 (tests/robot/g1_fake_robot.py), which
    checks every command and reports them with their times on the shared monotonic clock.
    """
    d = dds_domain
    hold_timeout_s = 0.5
    robot = _start_fake_robot(d, tmp_path / "robot.json")
    group = ProcessGroup(tmp_path / "logs", env={"CYCLONEDDS_URI": loopback_config_xml()})
    client = None
    codes = {}
    try:
        params = [
            f"controller.link.domain_id={d}",
            "controller.link.interface=lo",
            "controller.grippers.kind=sim",
            "controller.supervisor.operator_stop_holds=true",  # as evaluate.launch.py
            f"controller.supervisor.hold_timeout_s={hold_timeout_s}",
            "controller.supervisor.ramp_out_s=2.0",
        ]
        group.start("controller", node_argv("controller_node", d, params), stop_grace_s=20.0)
        client = GraphClient(d, interface="lo", liveness_check=group.check)
        client.wait(lambda: client.controller_state == "idle", 60.0, "the controller node")
        environment = GraphRolloutEnvironment(client, record=False, home_timeout_s=30.0)
        config = EvalConfig(
            protocol=ProtocolConfig(
                tasks=[TaskSpec("hold_still", instruction="hold still", time_limit_s=1.0)],
                rollouts_per_task=1,
            ),
            recording=RecordingConfig(enabled=False),
        )
        operator = _VerdictPauseOperator(pause_s=4 * hold_timeout_s)
        summary = run_protocol(
            config, environment, tmp_path / "results", mode="real", checkpoint_id="none", operator=operator
        )
        assert summary.finished and summary.ran == 1
        assert [r.end_reason.value for r in summary.results.final] == ["time_limit"]
        client.spin(1.0)
        assert client.controller_state == "idle"

        # reset() of a controller still running: its `stop` only starts the operator-stop hold; it
        # repeats `stop` while the controller reports that hold, and the arms ramp out.
        client.command("start")
        client.wait(lambda: client.controller_state == "run", 30.0, "the controller to run")
        environment.reset("hold_still", 0)
        assert client.controller_state == "idle"

        # Ctrl-C (deactivate) during the operator-stop hold ramps out too.
        client.command("start")
        client.wait(lambda: client.controller_state == "run", 30.0, "the controller to run")
        client.command("stop")
        client.wait(lambda: client.controller.get("operator_hold") == "True", 10.0, "the operator-stop hold")
        held_at = time.monotonic()
    finally:
        if client is not None:
            client.close()
        codes = group.stop()
        if robot.poll() is None:
            robot.terminate()
        robot.communicate(timeout=30)
    assert codes["controller"] == 0  # deactivate reached idle (weight 0) in time
    log = (tmp_path / "logs" / "controller.log").read_text(errors="replace")
    assert "holding until stop/reset (operator_stop_holds)" in log
    assert log.count("second operator stop: ramping out") == 3  # home(), reset(), deactivate
    assert "hold timeout" not in log
    report = json.loads((tmp_path / "robot.json").read_text())
    assert report["received"] > 0 and report["violations"] == []
    series = np.array(report["series"])
    t, w, q = series[:, 0] + report["t0_monotonic"], series[:, 1], series[:, 2:]
    # The verdict pause (after the rollout's `stop`, before home()): every command the robot got
    # is the held one at weight 1 — also those more than hold_timeout_s after the stop.
    [(j0, j1)] = operator.windows
    during = (t >= j0) & (t <= j1)
    assert np.any(t[during] > j0 + 2 * hold_timeout_s)
    assert np.all(w[during] == 1.0)
    assert np.all(q[during] == q[during][0])
    # home(): the ramp out to weight 0, the weight never rising.
    after = np.flatnonzero(t > j1)
    end = after[np.flatnonzero(w[after] == 0.0)[0]]
    assert np.all(np.diff(w[after[0] : end + 1]) <= 1e-9) and w[after[0]] == 1.0
    # Deactivate: ramped out after the last hold, last command at weight 0.
    last = np.flatnonzero(t > held_at)
    assert last.size and w[-1] == 0.0 and np.all(np.diff(w[last]) <= 1e-9)
