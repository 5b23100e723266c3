"""The evaluation protocol through the full node graph (``dit4dit eval sim --graph``)."""

import json

import numpy as np
import pytest

from dit4dit_policy import schema
from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
from dit4dit_policy.evaluation.config import EvalConfig, ProtocolConfig, TaskSpec
from dit4dit_policy.evaluation.runner import run_protocol
from dit4dit_policy.evaluation.sim_setup import resolve_sim_tasks
from dit4dit_policy.ros.eval_environment import make_sim_graph_environment
from dit4dit_policy.sim.env import READY_STATE

pytestmark = pytest.mark.slow


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
