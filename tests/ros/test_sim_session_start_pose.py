"""The simulated graph starts every rollout from the tasks' ready pose (the demonstrations' start)."""

from __future__ import annotations

import numpy as np
import yaml

from dit4dit_policy.resources import share_path
from dit4dit_policy.sim.env import READY_STATE


def test_sim_launch_parameters_start_at_the_ready_pose():
    launch_params = yaml.safe_load(share_path("config", "sim.yaml").read_text())
    params = launch_params["controller_node"]["ros__parameters"]
    assert np.allclose(params["controller"]["supervisor"]["start_pose"], READY_STATE)
