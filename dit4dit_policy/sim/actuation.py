"""The robot's motor law on the simulated G1, blended with a built-in posture controller.

Per motor the G1 runs ``τ = kp·(q* − q) + kd·(dq* − dq) + τ_ff`` (g1_spec §3.1, unitree_mujoco
``ctrl = tau + kp(q_des − q) + kd(dq_des − dq)``, §8.1). In arm_sdk mode the firmware blends the
user's command into its own balance controller with the weight ``w = motor_cmd[29].q`` ∈ [0, 1]
(g1_spec §2.1, §3.1); ``w = 0`` leaves the arms to the built-in controller, which holds its
default arm pose. The simulator models that as

    τ = w·τ_user + (1 − w)·τ_posture,  τ_posture = kp₀·(q₀ − q) − kd₀·dq + g(q)

where ``q₀`` is :data:`~dit4dit_policy.sim.description.DEFAULT_ARM_POSE` (waist 0) and ``g(q)`` is
gravity compensation. ``τ`` is linear in (q, dq), so it is written into the scene's ``general``
actuators as ``τ = ctrl − K·q − D·dq`` (clamped to the motor's torque rating); MuJoCo then
integrates the damping implicitly. Gravity compensation uses MuJoCo's body ``gravcomp``, scaled
by ``(1 − w)`` plus ``w`` when the user's feed-forward is taken to be gravity
(``gravity_feedforward``: the in-process environment emulates the controller's RNEA ``τ_ff``, as
XR/IL send, g1_spec §2.2; over DDS the received ``tau`` is applied as is).

Torch-free.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.sim import description as desc
from dit4dit_policy.sim.scene import Scene

#: Number of motors the simulator models (waist 12-14 + arms 15-28).
NUM_SIM_MOTORS = len(desc.SIM_MOTOR_INDICES)

#: Built-in posture controller gains: waist 300/3 (XR holds legs and waist at 300/3, g1_spec §2.2),
#: arms the schema defaults (80/3 shoulder+elbow, 40/1.5 wrist).
POSTURE_KP = np.concatenate([[300.0, 300.0, 300.0], schema.ARM_KP_DEFAULT])
POSTURE_KD = np.concatenate([[3.0, 3.0, 3.0], schema.ARM_KD_DEFAULT])
POSTURE_Q = np.concatenate([[0.0, 0.0, 0.0], desc.DEFAULT_ARM_POSE])
for _arr in (POSTURE_KP, POSTURE_KD, POSTURE_Q):
    _arr.setflags(write=False)


@dataclasses.dataclass
class MotorCommand:
    """One command for the modelled motors, in :data:`~description.SIM_MOTOR_INDICES` order.

    Attributes:
        q: (17,) target positions [rad].
        dq: (17,) target velocities [rad/s].
        tau: (17,) feed-forward torques [N·m].
        kp: (17,) stiffness [N·m/rad].
        kd: (17,) damping [N·m·s/rad].
        enabled: (17,) bool; a disabled motor (``MotorCmd_.mode == 0`` on rt/lowcmd) gives no user torque.
        commanded: (17,) bool; in arm_sdk mode a waist motor the user does not command (kp = kd = 0)
            stays with the built-in controller.

    Raises:
        ValueError: a field with the wrong shape or non-finite values.
    """

    q: np.ndarray
    dq: np.ndarray
    tau: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    enabled: np.ndarray
    commanded: np.ndarray

    def __post_init__(self) -> None:
        for name in ("q", "dq", "tau", "kp", "kd"):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != (NUM_SIM_MOTORS,) or not np.all(np.isfinite(value)):
                raise ValueError(
                    f"MotorCommand.{name} must be {NUM_SIM_MOTORS} finite numbers, got {value!r}"
                )
            setattr(self, name, value)
        for name in ("enabled", "commanded"):
            value = np.asarray(getattr(self, name), dtype=bool)
            if value.shape != (NUM_SIM_MOTORS,):
                raise ValueError(
                    f"MotorCommand.{name} must have shape ({NUM_SIM_MOTORS},), got {value.shape}"
                )
            setattr(self, name, value)

    @classmethod
    def hold_arms(
        cls, arm_q: np.ndarray, kp: np.ndarray | None = None, kd: np.ndarray | None = None
    ) -> MotorCommand:
        """Arm position targets (14,) [rad] with the default gains; waist not commanded.

        Raises:
            ValueError: ``arm_q`` is not (14,).
        """
        arm_q = np.asarray(arm_q, dtype=np.float64)
        if arm_q.shape != (schema.NUM_ARM_JOINTS,):
            raise ValueError(f"arm_q must have shape (14,), got {arm_q.shape}")
        zeros = np.zeros(NUM_SIM_MOTORS)
        return cls(
            q=np.concatenate([zeros[:3], arm_q]),
            dq=zeros.copy(),
            tau=zeros.copy(),
            kp=np.concatenate([zeros[:3], schema.ARM_KP_DEFAULT if kp is None else kp]),
            kd=np.concatenate([zeros[:3], schema.ARM_KD_DEFAULT if kd is None else kd]),
            enabled=np.ones(NUM_SIM_MOTORS, dtype=bool),
            commanded=np.array([False] * 3 + [True] * schema.NUM_ARM_JOINTS),
        )


class MotorController:
    """Writes the blended motor law and the gripper targets into a :class:`Scene`.

    Args:
        scene: the compiled scene.
    """

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self._gravcomp_bodies = scene.robot_body_ids
        self.set(None, weight=0.0, gravity_feedforward=False)

    def set(self, command: MotorCommand | None, weight: float, gravity_feedforward: bool) -> None:
        """Apply ``command`` blended with weight ``weight`` against the posture controller.

        Args:
            command: user command, or None (built-in controller only).
            weight: arm_sdk blend weight in [0, 1] (1 in rt/lowcmd debug mode).
            gravity_feedforward: the user's ``τ_ff`` is gravity compensation computed by the simulator
                (in-process environment); otherwise ``command.tau`` is used as received.

        Raises:
            ValueError: weight outside [0, 1] or not finite.
        """
        if not (np.isfinite(weight) and 0.0 <= weight <= 1.0):
            raise ValueError(f"arm_sdk weight must be in [0, 1], got {weight!r}")
        if command is None:
            weight = 0.0
            w = np.zeros(NUM_SIM_MOTORS)
            k_user = d_user = c_user = w
        else:
            w = np.where(command.commanded, weight, 0.0)
            on = command.enabled.astype(np.float64)
            k_user = command.kp * on
            d_user = command.kd * on
            c_user = (command.kp * command.q + command.kd * command.dq + command.tau) * on
        stiffness = w * k_user + (1.0 - w) * POSTURE_KP
        damping = w * d_user + (1.0 - w) * POSTURE_KD
        ctrl = w * c_user + (1.0 - w) * POSTURE_KP * POSTURE_Q
        model, data = self.scene.model, self.scene.data
        acts = self.scene.motor_actuators
        model.actuator_biasprm[acts, 1] = -stiffness
        model.actuator_biasprm[acts, 2] = -damping
        data.ctrl[acts] = ctrl
        # One global weight for the arm bodies: the posture share plus the emulated feed-forward share.
        gravcomp = (1.0 - weight) + (weight if gravity_feedforward else 0.0)
        model.body_gravcomp[self._gravcomp_bodies] = gravcomp

    def set_grippers(self, opening: np.ndarray) -> None:
        """Gripper position targets: (2,) normalised opening (clipped to [0, 1], 1 = open).

        Raises:
            ValueError: wrong shape or non-finite values.
        """
        opening = np.asarray(opening, dtype=np.float64)
        if opening.shape != (2,) or not np.all(np.isfinite(opening)):
            raise ValueError(f"gripper opening must be 2 finite numbers in [0, 1], got {opening!r}")
        self.scene.data.ctrl[self.scene.gripper_actuators] = (
            np.clip(opening, 0.0, 1.0) * desc.GRIPPER_STROKE_M
        )
