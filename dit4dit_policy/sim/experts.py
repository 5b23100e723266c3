"""Scripted experts: per-task Cartesian plans turned into smooth 30 Hz 16-D joint targets with mink IK.

An expert reads the episode's :class:`~dit4dit_policy.sim.tasks.Layout` and the object poses
after reset (privileged state), plans a sequence of grasp-centre waypoints for the acting arm
(:mod:`dit4dit_policy.sim.trajectory`), and at every 1/30 s step solves differential IK from its
previous command to the plan's reference. The other arm holds the ready pose. The output is the
same 16-D absolute target vector a policy produces, sent through the same
:meth:`G1TabletopEnv.step <dit4dit_policy.sim.env.G1TabletopEnv.step>`.

Torch-free (mink + MuJoCo).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.sim.env import READY_ARM_POSE, G1TabletopEnv
from dit4dit_policy.sim.ik import ArmIK, gripper_rotation
from dit4dit_policy.sim.tasks.close_drawer import CloseDrawer
from dit4dit_policy.sim.tasks.pick_place import BOWL_HEIGHT_M, PickPlace
from dit4dit_policy.sim.tasks.stack_cups import StackCups
from dit4dit_policy.sim.trajectory import Waypoint, WaypointPlan

#: Lateral position of the shoulders [m] (≈ y of the shoulder-roll joints): the natural approach
#: heading points from there to the object.
SHOULDER_Y_M = 0.14
#: Extra time after the plan ends before an expert episode stops [s].
HOLD_AFTER_S = 0.4


def _heading(target: np.ndarray, arm: int) -> float:
    shoulder_y = SHOULDER_Y_M if arm == 0 else -SHOULDER_Y_M
    return math.atan2(target[1] - shoulder_y, target[0])


def _closest_face_heading(natural: float, object_yaw: float) -> float:
    """Heading among the cube's face normals (yaw + k·π/2) closest to ``natural``."""
    k = round((natural - object_yaw) / (math.pi / 2))
    return object_yaw + k * math.pi / 2


def _lift(p: np.ndarray, dz: float) -> np.ndarray:
    return p + np.array([0.0, 0.0, dz])


def plan_pick_place(task: PickPlace, start: tuple[np.ndarray, np.ndarray]) -> WaypointPlan:
    """Grasp the object from above at a 0.9 rad pitch, lift, carry over the bowl, release, retreat."""
    layout = task.layout
    assert layout is not None
    arm, obj, bowl = layout.arm, task.target.pos, task.bowl.pos
    half = layout.extra["object_half_height"]
    heading = _heading(obj, arm)
    if task.variant == "train":
        heading = _closest_face_heading(heading, layout.extra["object_yaw"])
    pitch = 0.9
    rot = gripper_rotation(heading, pitch)
    approach = rot[:, 0]
    grasp = _lift(obj, 0.012 + (half - 0.025))
    pre = grasp - 0.08 * approach
    rot_place = gripper_rotation(_heading(bowl, arm), pitch)
    over_bowl = _lift(bowl, BOWL_HEIGHT_M + half + 0.01 + 0.012 + 0.06)
    release = _lift(bowl, BOWL_HEIGHT_M + half + 0.01 + 0.012)
    return WaypointPlan(
        start[0],
        start[1],
        1.0,
        [
            Waypoint(pre, rot, 1.0, 1.4, "approach"),
            Waypoint(grasp, rot, 1.0, 0.9, "descend"),
            Waypoint(grasp, rot, 0.0, 0.5, "grasp"),
            Waypoint(_lift(grasp, 0.10), rot, 0.0, 0.8, "lift"),
            Waypoint(over_bowl, rot_place, 0.0, 1.3, "carry"),
            Waypoint(release, rot_place, 0.0, 0.6, "lower"),
            Waypoint(release, rot_place, 1.0, 0.4, "release"),
            Waypoint(_lift(release, 0.08), rot_place, 1.0, 0.6, "retreat"),
        ],
    )


def plan_stack_cups(task: StackCups, start: tuple[np.ndarray, np.ndarray]) -> WaypointPlan:
    """Grasp the outer cup near its top, carry it over the base cup, lower until almost touching, release."""
    layout = task.layout
    assert layout is not None
    arm, move, base = layout.arm, task.move.pos, task.base.pos
    half = layout.extra["cup_half_height"]
    pitch = 0.8
    rot = gripper_rotation(_heading(move, arm), pitch)
    approach = rot[:, 0]
    grasp = _lift(move, half - 0.025)
    pre = grasp - 0.08 * approach
    rot_place = gripper_rotation(_heading(base, arm), pitch)
    # Grasped cup centre sits (half - 0.025) below the grasp centre; release 5 mm above the base cup.
    release = _lift(base, 2 * half + 0.005 + (half - 0.025))
    return WaypointPlan(
        start[0],
        start[1],
        1.0,
        [
            Waypoint(pre, rot, 1.0, 1.4, "approach"),
            Waypoint(grasp, rot, 1.0, 0.9, "descend"),
            Waypoint(grasp, rot, 0.0, 0.5, "grasp"),
            Waypoint(_lift(grasp, 0.11), rot, 0.0, 0.8, "lift"),
            Waypoint(_lift(release, 0.04), rot_place, 0.0, 1.3, "carry"),
            Waypoint(release, rot_place, 0.0, 0.8, "lower"),
            Waypoint(release, rot_place, 1.0, 0.4, "release"),
            Waypoint(_lift(release, 0.08), rot_place, 1.0, 0.6, "retreat"),
        ],
    )


def plan_close_drawer(task: CloseDrawer, start: tuple[np.ndarray, np.ndarray]) -> WaypointPlan:
    """Close the gripper, line the fingertips up above the handle, push the drawer shut, back off."""
    layout = task.layout
    assert layout is not None
    face_closed = layout.poses["drawer_face_closed"]
    opening = task.opening
    pitch = 0.35
    rot = gripper_rotation(0.0, pitch)
    tip = 0.025 * math.cos(pitch)  # grasp centre → fingertip along x [m]
    # Push right of the centre (the right hand's side), above the handle.
    offset = np.array([0.0, -0.04, 0.04])
    contact = face_closed + offset + np.array([-opening - tip, 0.0, 0.0])
    pushed = face_closed + offset + np.array([-tip + 0.012, 0.0, 0.0])
    return WaypointPlan(
        start[0],
        start[1],
        1.0,
        [
            Waypoint(contact + np.array([-0.06, 0.0, 0.02]), rot, 0.0, 1.3, "approach"),
            Waypoint(contact - np.array([0.01, 0.0, 0.0]), rot, 0.0, 0.5, "align"),
            Waypoint(pushed, rot, 0.0, 1.3, "push"),
            Waypoint(pushed - np.array([0.08, 0.0, 0.0]), rot, 0.0, 0.6, "retreat"),
        ],
    )


_PLANNERS = {PickPlace: plan_pick_place, StackCups: plan_stack_cups, CloseDrawer: plan_close_drawer}


class ScriptedExpert:
    """Plans at reset and then produces one 16-D target per 1/30 s step.

    Args:
        ik: shared IK solver (created if None).

    Raises:
        ValueError: a task without a planner.
    """

    def __init__(self, ik: ArmIK | None = None) -> None:
        self.ik = ik or ArmIK()
        self.plan: WaypointPlan | None = None
        self._q = READY_ARM_POSE.copy()
        self._arm = 0
        self._grippers = np.ones(2)
        self._t = 0.0

    def reset(self, env: G1TabletopEnv) -> WaypointPlan:
        """Plan the episode just reset in ``env`` (call after ``env.reset``)."""
        planner = _PLANNERS.get(type(env.task))
        if planner is None:
            raise ValueError(f"no scripted expert for task {env.task.full_name}")
        layout = env.task.layout
        assert layout is not None
        self._arm = layout.arm
        self._q = np.asarray(env.target[schema.ARMS], dtype=np.float64).copy()
        self._grippers = np.asarray(env.target[schema.GRIPPERS], dtype=np.float64).copy()
        self._t = 0.0
        self.plan = planner(env.task, self.ik.tcp_pose(self._q, self._arm))
        return self.plan

    @property
    def done(self) -> bool:
        """Whether the plan and the final hold are over."""
        return self.plan is not None and self._t >= self.plan.duration + HOLD_AFTER_S

    def act(self) -> np.ndarray:
        """The next (16,) float32 absolute target [rad | opening] and advance the expert clock by 1/30 s.

        Raises:
            RuntimeError: called before :meth:`reset`.
        """
        if self.plan is None:
            raise RuntimeError("ScriptedExpert.act called before reset")
        self._t += schema.ACTION_DT_S
        pos, rot, grip = self.plan.sample(self._t)
        targets: list[Any] = [None, None]
        targets[self._arm] = (pos, rot)
        self._q = self.ik.solve(self._q, targets, READY_ARM_POSE, schema.ACTION_DT_S)
        self._grippers[self._arm] = grip
        return np.concatenate([self._q, self._grippers]).astype(np.float32)


@dataclasses.dataclass
class ExpertEpisode:
    """One expert rollout.

    Attributes:
        images: list of (H, W, 3) uint8 ego frames, one per step (observation before the action).
        states: (T, 16) float32 measured states.
        actions: (T, 16) float32 commanded targets.
        success: whether the task succeeded at the end.
        instruction: the episode's instruction.
        seed: the reset seed.
    """

    images: list[np.ndarray]
    states: np.ndarray
    actions: np.ndarray
    success: bool
    instruction: str
    seed: int


def run_expert_episode(
    env: G1TabletopEnv, expert: ScriptedExpert, seed: int, record_images: bool = True
) -> ExpertEpisode:
    """Roll the expert out for one episode of ``env`` (success does not stop it; the plan does).

    Args:
        env: environment (its ``terminate_on_success`` is ignored: the expert finishes its plan).
        expert: the expert.
        seed: reset seed.
        record_images: keep the ego frames (False: faster success checks, render_mode may be None).
    """
    obs, info = env.reset(seed=seed)
    expert.reset(env)
    images: list[np.ndarray] = []
    states: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    success = False
    for _ in range(env.max_steps):
        action = expert.act()
        if record_images:
            images.append(obs["image"])
        states.append(obs["state"])
        actions.append(action)
        obs, _, _, _, info = env.step(action)
        success = info["success"]
        if expert.done:
            break
    return ExpertEpisode(
        images=images,
        states=np.asarray(states, dtype=np.float32),
        actions=np.asarray(actions, dtype=np.float32),
        success=bool(success),
        instruction=info["instruction"],
        seed=seed,
    )
