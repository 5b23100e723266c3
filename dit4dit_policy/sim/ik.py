"""Differential inverse kinematics of the two arms with mink (QP-based, joint and velocity limits).

The IK model is the G1 description itself with the waist and gripper joints removed (their bodies
become rigid), so its 14 coordinates are exactly the 14 arm dims of the 16-D vector and its TCP
frames are the description's ``*_gripper_tcp`` links. The pelvis sits at the same world pose as
in the scene, so targets are given in world coordinates.

Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.sim import description as desc

#: Joint speed bound used by the IK [rad/s]: well below the motor ratings (37 / 22 rad/s,
#: g1_spec §2.1) so that expert motions stay smooth and trackable by the PD law.
IK_MAX_JOINT_SPEED = 2.5
#: Posture-regularisation cost (pulls the null space towards the reference posture).
POSTURE_COST = 0.02
#: Extra posture cost on the arm without a target, which then holds the reference posture.
IDLE_ARM_POSTURE_COST = 2.0


class ArmIK:
    """Two-arm differential IK on the description's kinematics.

    Args:
        urdf: description file (default: the package's).
        position_cost: FrameTask position cost [1/m].
        orientation_cost: FrameTask orientation cost [1/rad].

    Raises:
        RuntimeError: the reduced model does not have exactly the 14 arm joints in schema order.
    """

    def __init__(
        self, urdf: str | Path | None = None, position_cost: float = 1.0, orientation_cost: float = 0.4
    ):
        import mink
        import mujoco

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
        self._mujoco = mujoco
        self.configuration = mink.Configuration(self.model)
        self.frame_tasks = [
            mink.FrameTask(
                tcp, "body", position_cost=position_cost, orientation_cost=orientation_cost, lm_damping=1e-3
            )
            for tcp in desc.TCP_BODIES
        ]
        self.posture = mink.PostureTask(self.model, cost=POSTURE_COST)
        self.limits = [
            mink.ConfigurationLimit(self.model),
            mink.VelocityLimit(self.model, dict.fromkeys(schema.ARM_JOINT_NAMES, IK_MAX_JOINT_SPEED)),
        ]

    def tcp_pose(self, q: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
        """Forward kinematics of one TCP.

        Args:
            q: (14,) arm joint positions [rad].
            side: 0 = left, 1 = right.

        Returns:
            ((3,) world position [m], (3, 3) world rotation matrix).
        """
        self.configuration.update(np.asarray(q, dtype=np.float64))
        transform = self.configuration.get_transform_frame_to_world(desc.TCP_BODIES[side], "body")
        return transform.translation().copy(), transform.rotation().as_matrix().copy()

    def solve(
        self,
        q: np.ndarray,
        targets: Sequence[tuple[np.ndarray, np.ndarray] | None],
        posture: np.ndarray,
        dt: float,
        iterations: int = 2,
    ) -> np.ndarray:
        """Move ``q`` towards the TCP targets within one control period.

        Args:
            q: (14,) current commanded arm positions [rad].
            targets: per side (left, right), a ((3,) position [m], (3, 3) rotation) world target or
                None (that arm holds ``posture``).
            posture: (14,) reference posture [rad] for the null space and idle arms.
            dt: control period [s] (the velocity limits bound the motion per call).
            iterations: QP iterations, each integrating over ``dt / iterations``.

        Returns:
            (14,) new arm positions [rad], within the joint limits.

        Raises:
            ValueError: wrong shapes.
        """
        mink = self._mink
        q = np.asarray(q, dtype=np.float64)
        posture = np.asarray(posture, dtype=np.float64)
        if q.shape != (14,) or posture.shape != (14,) or len(targets) != 2:
            raise ValueError("solve needs q (14,), posture (14,) and two targets (left, right)")
        cost = np.full(14, POSTURE_COST)
        tasks: list = [self.posture]
        for side, target in enumerate(targets):
            arm = schema.LEFT_ARM if side == 0 else schema.RIGHT_ARM
            if target is None:
                cost[arm] = IDLE_ARM_POSTURE_COST
                continue
            pos, rot = target
            self.frame_tasks[side].set_target(
                mink.SE3.from_rotation_and_translation(mink.SO3.from_matrix(rot), pos)
            )
            tasks.append(self.frame_tasks[side])
        self.posture.set_cost(cost)
        self.posture.set_target(posture)
        self.configuration.update(np.clip(q, schema.POSITION_LOWER[:14], schema.POSITION_UPPER[:14]))
        step = dt / iterations
        for _ in range(iterations):
            velocity = mink.solve_ik(
                self.configuration, tasks, step, solver="daqp", damping=1e-3, limits=self.limits
            )
            self.configuration.integrate_inplace(velocity, step)
        return self.configuration.q.copy()


def gripper_rotation(yaw: float, pitch: float) -> np.ndarray:
    """World rotation of a TCP whose approach axis (x) points along heading ``yaw`` tilted down by ``pitch``.

    The jaw axis (y) stays horizontal. Args in [rad]; returns (3, 3).
    """
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    return rz @ ry
