"""The gymnasium environment: seeding, action contract, PD tracking, time limit, gymnasium checks."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from dit4dit_policy import schema
from dit4dit_policy.errors import SchemaMismatchError
from dit4dit_policy.sim.env import READY_STATE, EnvConfig, G1TabletopEnv
from dit4dit_policy.sim.scene import SceneConfig

SMALL = EnvConfig(scene=SceneConfig(image_width=64, image_height=64))


@pytest.fixture(scope="module")
def env():
    env = G1TabletopEnv("pick_place", SMALL)
    yield env
    env.close()


def test_same_seed_same_episode_different_seed_different(env):
    obs_a, info_a = env.reset(seed=11)
    obs_b, info_b = env.reset(seed=11)
    assert np.array_equal(obs_a["image"], obs_b["image"])
    assert np.array_equal(obs_a["state"], obs_b["state"])
    assert info_a["instruction"] == info_b["instruction"]
    poses = [env.task.layout.poses["object"]]
    for seed in (12, 13, 14):
        env.reset(seed=seed)
        poses.append(env.task.layout.poses["object"])
    assert len({tuple(np.round(p, 4)) for p in poses}) == 4


def test_observation_contract(env):
    obs, info = env.reset(seed=0)
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert obs["state"].shape == (16,) and obs["state"].dtype == np.float32
    assert obs["state"] == pytest.approx(READY_STATE, abs=0.02)
    assert info["task"] == "pick_place" and info["success"] is False and info["seed"] == 0
    assert obs["image"].std() > 10  # a real rendered scene, not a blank frame


def test_bad_actions_name_the_contract(env):
    env.reset(seed=0)
    with pytest.raises(SchemaMismatchError, match=r"shape \(16,\)"):
        env.step(np.zeros(14))
    bad = READY_STATE.copy()
    bad[3] = np.nan
    with pytest.raises(SchemaMismatchError, match=r"dims \[3\]"):
        env.step(bad)


def test_targets_are_tracked_and_clipped_to_limits(env):
    env.reset(seed=0)
    target = READY_STATE.copy()
    target[0] -= 0.2  # left shoulder pitch
    target[10] += 0.3  # right elbow
    target[15] = 0.0  # close the right gripper
    for _ in range(20):
        obs, *_ = env.step(target)
    assert obs["state"][:14] == pytest.approx(target[:14], abs=0.01)
    assert obs["state"][15] < 0.05
    wild = READY_STATE.copy()
    wild[3] = 10.0  # far above the elbow limit → clipped to schema.POSITION_UPPER
    env.step(wild)
    assert env.target[3] == pytest.approx(schema.POSITION_UPPER[3])


def test_time_limit_truncates():
    env = G1TabletopEnv("pick_place", SMALL, render_mode=None)
    env.reset(seed=0)
    truncated = False
    steps = 0
    while not truncated:
        _, reward, terminated, truncated, info = env.step(READY_STATE)
        steps += 1
        assert not terminated and reward == 0.0
    assert steps == round(env.task.time_limit_s * 30)
    assert info["elapsed_s"] == pytest.approx(env.task.time_limit_s)


def test_gymnasium_env_checker_passes():
    env = G1TabletopEnv("close_drawer", SMALL)
    check_env(env, skip_render_check=False)
    env.close()


def test_unknown_task_lists_the_valid_ones():
    with pytest.raises(ValueError, match="close_drawer"):
        G1TabletopEnv("juggle")
