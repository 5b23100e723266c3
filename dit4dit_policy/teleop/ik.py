"""Two-arm differential IK for teleoperation (mink on the project's URDF) with self-collision limits.

The model is ``urdf/g1_upper_body.urdf`` compiled by MuJoCo (:mod:`dit4dit_policy.sim.description`)
with the waist and gripper joints removed, so its 14 coordinates are exactly the 14 arm dims of the
16-D vector (schema order) and its end-effector frames are the grasp centres ``left_gripper_tcp`` /
``right_gripper_tcp`` between the fingertips. The pelvis sits at
:data:`~dit4dit_policy.sim.description.PELVIS_HEIGHT_M` above the world origin, like the simulator's
scene, so targets are world poses (x forward, y left, z up) [m].

Each :meth:`TeleopIK.solve` call is one control period of a QP-based differential IK (mink with the
DAQP solver): frame tasks on both TCPs, a posture task for the null space, and limits:

* joint position limits (schema / URDF), a joint speed bound (``max_joint_speed`` [rad/s]);
* arm–arm and arm–body clearance (:class:`~dit4dit_policy.teleop.clearance.ClearanceLimit`) keeps
  the distance between the upper-arm/forearm/wrist/gripper geoms of one arm and those of the other
  arm, and between the forearm/wrist/gripper geoms and the torso/pelvis/head-camera geoms, above
  ``min_clearance_m``.

xr_teleoperate solves a similar two-wrist IK with pinocchio + casadi on its own URDF and locks legs,
waist and hands (g1_spec §6.1); we use mink (reference/environment.md "IK": mink 1.3 works as
installed). Torch-free.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.sim import description as desc
from dit4dit_policy.teleop.clearance import ClearanceLimit

#: Links whose geoms take part in the clearance limits, per arm (elbow and everything distal) and
#: for the body. The upper arm sits next to the torso by construction and is left out.
ARM_CLEARANCE_LINKS = (
    "shoulder_yaw_link",
    "elbow_link",
    "wrist_roll_link",
    "wrist_pitch_link",
    "wrist_yaw_link",
    "gripper_base_link",
    "gripper_finger_link",
    "gripper_mimic_finger_link",
)
BODY_CLEARANCE_LINKS = ("pelvis", "waist_yaw_link", "torso_link", "d435_link")


@dataclasses.dataclass
class IkConfig:
    """IK weights and limits.

    Attributes:
        position_cost: TCP position task cost [1/m].
        orientation_cost: TCP orientation task cost [1/rad].
        posture_cost: null-space posture cost (pulls towards the reference posture).
        max_joint_speed: joint speed bound [rad/s]; the motors allow 37 / 22 rad/s (schema), a
            teleoperated arm much less.
        iterations: QP iterations per call, each integrating dt / iterations.
        min_clearance_m: smallest allowed distance between the clearance geoms [m].
        detection_distance_m: distance under which a clearance constraint becomes active [m].
        collision_avoidance: enable the clearance limits.
    """

    position_cost: float = 1.0
    orientation_cost: float = 0.5
    posture_cost: float = 0.01
    max_joint_speed: float = 3.0
    iterations: int = 2
    min_clearance_m: float = 0.02
    detection_distance_m: float = 0.08
    collision_avoidance: bool = True

    def __post_init__(self) -> None:
        for name in ("position_cost", "orientation_cost", "posture_cost"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"ik.{name} must be >= 0, got {value}")
        if not 0 < self.max_joint_speed <= 20.0:
            raise ValueError(f"ik.max_joint_speed must be in (0, 20] rad/s, got {self.max_joint_speed}")
        if not 1 <= self.iterations <= 20:
            raise ValueError(f"ik.iterations must be in [1, 20], got {self.iterations}")
        if not 0.0 <= self.min_clearance_m < self.detection_distance_m <= 0.5:
            raise ValueError(
                "ik needs 0 <= min_clearance_m < detection_distance_m <= 0.5 m, got "
                f"{self.min_clearance_m}, {self.detection_distance_m}"
            )


Target = tuple[np.ndarray, np.ndarray]


class TeleopIK:
    """Differential IK of both arms on the project's description.

    Args:
        config: weights and limits.
        urdf: description file or directory (default: the package's).

    Raises:
        RuntimeError: the reduced model's joints are not the 14 arm joints in schema order.
        FileNotFoundError: no URDF.
    """

    def __init__(self, config: IkConfig | None = None, urdf: str | Path | None = None) -> None:
        import mink

        self.config = config or IkConfig()
        spec = desc.load_robot_spec(urdf)
        spec.body("pelvis").pos = [0.0, 0.0, desc.PELVIS_HEIGHT_M]
        for name in (*desc.WAIST_JOINT_NAMES, *desc.GRIPPER_JOINTS, *desc.GRIPPER_MIMIC_JOINTS):
            spec.delete(spec.joint(name))
        for eq in list(spec.equalities):
            spec.delete(eq)
        self.model = spec.compile()
        names = tuple(self.model.joint(i).name for i in range(self.model.njnt))
        if names != schema.ARM_JOINT_NAMES or self.model.nq != schema.NUM_ARM_JOINTS:
            raise RuntimeError(f"IK model joints {names} do not match schema.ARM_JOINT_NAMES")
        self._mink = mink
        self.configuration = mink.Configuration(self.model)
        cfg = self.config
        self.frame_tasks = [
            mink.FrameTask(
                tcp,
                "body",
                position_cost=cfg.position_cost,
                orientation_cost=cfg.orientation_cost,
                lm_damping=1e-3,
            )
            for tcp in desc.TCP_BODIES
        ]
        self.posture = mink.PostureTask(self.model, cost=cfg.posture_cost)
        self.limits: list = [
            mink.ConfigurationLimit(self.model),
            mink.VelocityLimit(self.model, dict.fromkeys(schema.ARM_JOINT_NAMES, cfg.max_joint_speed)),
        ]
        self.clearance_pairs = self._clearance_pairs()
        self.clearance = ClearanceLimit(
            self.model,
            self.clearance_pairs,
            min_distance_m=cfg.min_clearance_m,
            detection_distance_m=cfg.detection_distance_m,
        )
        if cfg.collision_avoidance:
            self.limits.append(self.clearance)
        self._freeze = [
            mink.DofFreezingTask(self.model, list(range(0, 7))),
            mink.DofFreezingTask(self.model, list(range(7, 14))),
        ]
        self._lower = schema.POSITION_LOWER[schema.ARMS]
        self._upper = schema.POSITION_UPPER[schema.ARMS]

    def _geoms(self, links: Sequence[str]) -> list[int]:
        import mujoco

        ids = []
        for link in links:
            body = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, link)
            if body < 0:
                raise RuntimeError(f"IK model lacks the link {link!r}")
            ids += [int(g) for g in np.flatnonzero(self.model.geom_bodyid == body)]
        return ids

    def _clearance_pairs(self) -> list[tuple[list[int], list[int]]]:
        left = self._geoms([f"left_{link}" for link in ARM_CLEARANCE_LINKS])
        right = self._geoms([f"right_{link}" for link in ARM_CLEARANCE_LINKS])
        body = self._geoms(BODY_CLEARANCE_LINKS)
        distal = len(ARM_CLEARANCE_LINKS) - 1  # without the upper arm against the body
        left_distal = self._geoms([f"left_{link}" for link in ARM_CLEARANCE_LINKS[-distal:]])
        right_distal = self._geoms([f"right_{link}" for link in ARM_CLEARANCE_LINKS[-distal:]])
        return [(left, right), (left_distal, body), (right_distal, body)]

    def min_clearance(self, q: np.ndarray) -> float:
        """Smallest distance [m] between any clearance pair at arm configuration ``q`` (14,) [rad].

        Pairs farther apart than ``detection_distance_m`` report that distance.
        """
        self.configuration.update(np.asarray(q, dtype=np.float64))
        return float(self.clearance.distances(self.configuration.data).min())

    def tcp_poses(self, q: np.ndarray) -> list[Target]:
        """Forward kinematics of both TCPs.

        Args:
            q: (14,) arm joint positions [rad], schema order.

        Returns:
            [(left (3,) position [m], (3, 3) rotation), (right ...)] in the world frame.
        """
        self.configuration.update(np.asarray(q, dtype=np.float64))
        out = []
        for tcp in desc.TCP_BODIES:
            transform = self.configuration.get_transform_frame_to_world(tcp, "body")
            out.append((transform.translation().copy(), transform.rotation().as_matrix().copy()))
        return out

    def solve(
        self, q: np.ndarray, targets: Sequence[Target | None], posture: np.ndarray, dt_s: float
    ) -> np.ndarray:
        """Move ``q`` towards the TCP targets within one control period.

        Args:
            q: (14,) current commanded arm positions [rad].
            targets: (left, right) world targets ((3,) position [m], (3, 3) rotation) or None for an
                arm that holds its current configuration.
            posture: (14,) reference posture [rad] for the null space.
            dt_s: control period [s]; with the speed bound it caps the motion per call.

        Returns:
            (14,) new arm positions [rad] within the joint limits. An arm without a target keeps
            its joints unchanged.

        Raises:
            ValueError: wrong shapes or a non-positive period.
        """
        mink = self._mink
        q = np.asarray(q, dtype=np.float64)
        posture = np.asarray(posture, dtype=np.float64)
        if q.shape != (14,) or posture.shape != (14,) or len(targets) != 2:
            raise ValueError("solve needs q (14,), posture (14,) and two targets (left, right)")
        if not dt_s > 0:
            raise ValueError(f"dt_s must be > 0, got {dt_s}")
        q0 = np.clip(q, self._lower, self._upper)
        tasks: list = [self.posture]
        constraints = []
        for side, target in enumerate(targets):
            if target is None:
                constraints.append(self._freeze[side])
                continue
            pos, rot = target
            self.frame_tasks[side].set_target(
                mink.SE3.from_rotation_and_translation(mink.SO3.from_matrix(np.asarray(rot)), np.asarray(pos))
            )
            tasks.append(self.frame_tasks[side])
        if len(tasks) == 1:
            return q0
        self.posture.set_target(posture)
        self.configuration.update(q0)
        step = dt_s / self.config.iterations
        for _ in range(self.config.iterations):
            velocity = mink.solve_ik(
                self.configuration,
                tasks,
                step,
                solver="daqp",
                damping=1e-3,
                limits=self.limits,
                constraints=constraints or None,
            )
            self.configuration.integrate_inplace(velocity, step)
        out = np.clip(self.configuration.q.copy(), self._lower, self._upper)
        for side, target in enumerate(targets):
            if target is None:
                arm = schema.LEFT_ARM if side == 0 else schema.RIGHT_ARM
                out[arm] = q0[arm]
        return out
