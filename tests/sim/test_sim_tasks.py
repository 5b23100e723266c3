"""Tasks: seeded randomisation, palettes, held-out variants, success predicates that can fail."""

import mujoco
import numpy as np
import pytest

from dit4dit_policy.sim.env import EnvConfig, G1TabletopEnv
from dit4dit_policy.sim.scene import TABLE_HEIGHT_M, SceneConfig
from dit4dit_policy.sim.tasks import make_task, task_names
from dit4dit_policy.sim.tasks.base import HELDOUT_COLORS, TRAIN_COLORS

CFG = EnvConfig(scene=SceneConfig(image_width=32, image_height=32), settle_s=0.3)


def _settle(env, seconds=0.5):
    for _ in range(int(seconds * 500)):
        mujoco.mj_step(env.scene.model, env.scene.data)


def test_registry():
    names = task_names()
    assert {"pick_place", "stack_cups", "close_drawer"} <= set(names)
    assert all(f"{n}_heldout" in names for n in ("pick_place", "stack_cups", "close_drawer"))
    assert make_task("stack_cups_heldout").variant == "heldout"
    with pytest.raises(ValueError, match="unknown task"):
        make_task("pick_place_extra")


@pytest.mark.parametrize("name", ["pick_place", "stack_cups", "close_drawer"])
def test_reset_randomises_and_is_not_already_solved(name):
    env = G1TabletopEnv(name, CFG, render_mode=None)
    layouts = []
    for seed in range(8):
        _, info = env.reset(seed=seed)
        assert info["success"] is False, f"{name} seed {seed} starts solved"
        assert info["instruction"]
        layouts.append(env.task.layout)
    key = next(iter(layouts[0].poses))
    assert len({tuple(np.round(lay.poses[key], 3)) for lay in layouts}) == 8
    assert len({lay.colors[next(iter(lay.colors))] for lay in layouts}) > 1
    assert env.task.time_limit_s > 0
    env.close()


def test_heldout_variants_use_unseen_objects_or_colours():
    train, held = G1TabletopEnv("stack_cups", CFG, None), G1TabletopEnv("stack_cups_heldout", CFG, None)
    for seed in range(6):
        train.reset(seed=seed)
        held.reset(seed=seed)
        assert set(train.task.layout.colors.values()) <= set(TRAIN_COLORS)
        assert set(held.task.layout.colors.values()) <= set(HELDOUT_COLORS)
    drawer = G1TabletopEnv("close_drawer_heldout", CFG, None)
    drawer.reset(seed=1)
    assert drawer.task.layout.colors["drawer"] in HELDOUT_COLORS
    pick = G1TabletopEnv("pick_place_heldout", CFG, None)
    _, info = pick.reset(seed=2)
    assert "can" in info["instruction"]
    assert pick.scene.model.geom("obj_target").type == mujoco.mjtGeom.mjGEOM_CYLINDER


def test_pick_place_success_predicate():
    env = G1TabletopEnv("pick_place", CFG, render_mode=None)
    env.reset(seed=4)
    task = env.task
    assert not task.success()
    bowl = task.bowl.pos
    task.target.place(np.array([bowl[0], bowl[1], TABLE_HEIGHT_M + 0.04]))
    _settle(env)
    assert task.success()
    # Next to the bowl is not in it.
    task.target.place(np.array([bowl[0] + 0.15, bowl[1], TABLE_HEIGHT_M + 0.026]))
    _settle(env)
    assert not task.success()


def test_stack_cups_success_predicate():
    env = G1TabletopEnv("stack_cups", CFG, render_mode=None)
    env.reset(seed=5)
    task = env.task
    base = task.base.pos
    task.move.place(base + np.array([0.0, 0.0, 0.071]))
    _settle(env)
    assert task.success()
    task.move.place(base + np.array([0.0, 0.12, 0.0]))
    _settle(env)
    assert not task.success()


def test_close_drawer_success_predicate():
    env = G1TabletopEnv("close_drawer", CFG, render_mode=None)
    env.reset(seed=6)
    task = env.task
    assert task.opening > 0.06 and not task.success()
    env.scene.data.qpos[task._qadr] = 0.004
    mujoco.mj_forward(env.scene.model, env.scene.data)
    assert task.success()
