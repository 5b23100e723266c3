"""The evaluation protocol through the node graph: ``dit4dit eval sim --graph`` and the robot graph."""

import json
import subprocess
import sys
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


def test_estop_recovery_on_the_robot_graph(tmp_path, dds_domain):
    """`[r] recover` after an e-stop on the robot graph: home() sends `reset`, the arms ramp out.

    The real controller node process drives the fake G1 (tests/robot/g1_fake_robot.py), which
    checks every command. An e-stop latched before the session (another console) and one pressed
    during a rollout are both recovered after the operator's confirmation.
    """
    d = dds_domain
    robot = subprocess.Popen(
        [
            sys.executable,
            str(FAKE_ROBOT),
            "--domain",
            str(d),
            "--report",
            str(tmp_path / "robot.json"),
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
