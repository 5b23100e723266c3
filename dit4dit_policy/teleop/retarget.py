"""Retargeting: XR poses and buttons → the 16-D joint target (14 arm joints by IK + 2 grippers).

Per control tick (:meth:`Retargeter.update`):

1. **Staleness**: a pose message older than ``pose_timeout_s`` (page closed, Wi-Fi stall) releases
   both arms — the same as letting go of the deadman.
2. **Calibration** (press to align, :mod:`dit4dit_policy.teleop.frames`): on the page's ``align``
   flag or a press of A/X, the head heading becomes the robot's forward; before the first align the
   first head pose aligns automatically. Engaged arms re-anchor, so aligning never jumps.
3. **Deadman per arm**: controllers — the grip (squeeze) button held (≥ ``squeeze_threshold``);
   tracked hands — a thumb–middle-finger pinch toggles the arm on/off (hysteresis between
   ``engage_pinch_m`` and ``release_pinch_m``); losing tracking always releases. A released arm
   *holds* its last commanded joints and gripper.
4. **Clutched pose mapping**: at engagement the hand pose (1€-filtered, calibrated axes) and the
   TCP pose of the commanded joints are stored; afterwards the TCP target is
   ``p = p_tcp0 + scale·(p_hand − p_hand0)`` and ``R = (R_hand·R_hand0ᵀ)·R_tcp0``, clamped to
   ``max_reach_m`` from the shoulder. Relative mapping means the operator's body size and position
   do not matter and (re-)engaging never jumps.
5. **IK** (:class:`~dit4dit_policy.teleop.ik.TeleopIK`): joint limits, speed bound, arm–arm and
   arm–body clearance; the null-space posture is the arm's configuration at engagement, so
   (re-)engaging without moving the hand leaves the joints where they are.
6. **Grippers**: controllers — opening = 1 − trigger; hands — the thumb–index distance mapped
   linearly from ``pinch_closed_m`` (0, closed) to ``pinch_open_m`` (1, open); rate-limited to the
   schema gripper speed. 1 = open (schema).

The result is an absolute 16-D target; the teleop node publishes it as a short action chunk, so
it passes the controller's scheduler and safety filter like a policy chunk. Torch-free.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.teleop.filters import OneEuroFilter, QuaternionOneEuroFilter
from dit4dit_policy.teleop.frames import alignment_from_head
from dit4dit_policy.teleop.ik import IkConfig, TeleopIK
from dit4dit_policy.teleop.protocol import HandInput, XrFrame, matrix_to_quat, quat_to_matrix

SIDES = ("left", "right")
_ARM_SLICES = (schema.LEFT_ARM, schema.RIGHT_ARM)


@dataclasses.dataclass
class RetargetConfig:
    """Operator-to-robot mapping parameters.

    Attributes:
        motion_scale: robot TCP displacement per hand displacement [m/m].
        pose_timeout_s: a pose message older than this releases both arms [s].
        squeeze_threshold: grip button value that holds the deadman (controllers) [0, 1].
        engage_pinch_m: thumb–middle distance below which a pinch toggles an arm (hands) [m].
        release_pinch_m: distance above which the next toggle is armed (hysteresis) [m].
        pinch_closed_m: thumb–index distance of a closed gripper (hands) [m].
        pinch_open_m: thumb–index distance of a fully open gripper (hands) [m].
        max_reach_m: TCP targets are clamped to this distance from the shoulder [m] (G1 arm
            reach ≈ 0.55 m from shoulder to TCP with our gripper, urdf/g1_upper_body.urdf).
        filter_min_cutoff_hz: 1€ cutoff at rest for hand positions and orientations [Hz].
        filter_beta_position: 1€ speed coefficient for positions [Hz·s/m].
        filter_beta_rotation: 1€ speed coefficient for orientations [Hz·s/rad].
        reseed_threshold_rad: while no arm is engaged, a measured state farther than this from the
            last command (the robot was moved by something else) re-seeds the command [rad].
        ik: IK weights and limits.
    """

    motion_scale: float = 1.0
    pose_timeout_s: float = 0.25
    squeeze_threshold: float = 0.5
    engage_pinch_m: float = 0.02
    release_pinch_m: float = 0.04
    pinch_closed_m: float = 0.015
    pinch_open_m: float = 0.08
    max_reach_m: float = 0.6
    filter_min_cutoff_hz: float = 1.5
    filter_beta_position: float = 4.0
    filter_beta_rotation: float = 0.3
    reseed_threshold_rad: float = 0.05
    ik: IkConfig = dataclasses.field(default_factory=IkConfig)

    def __post_init__(self) -> None:
        if not 0.1 <= self.motion_scale <= 5.0:
            raise ValueError(f"motion_scale must be in [0.1, 5], got {self.motion_scale}")
        if not 0.02 <= self.pose_timeout_s <= 2.0:
            raise ValueError(f"pose_timeout_s must be in [0.02, 2] s, got {self.pose_timeout_s}")
        if not 0.0 < self.squeeze_threshold < 1.0:
            raise ValueError(f"squeeze_threshold must be in (0, 1), got {self.squeeze_threshold}")
        if not 0.0 < self.engage_pinch_m < self.release_pinch_m:
            raise ValueError(
                "need 0 < engage_pinch_m < release_pinch_m, "
                f"got {self.engage_pinch_m}, {self.release_pinch_m}"
            )
        if not 0.0 <= self.pinch_closed_m < self.pinch_open_m:
            raise ValueError(
                f"need 0 <= pinch_closed_m < pinch_open_m, got {self.pinch_closed_m}, {self.pinch_open_m}"
            )
        if not 0.1 <= self.max_reach_m <= 1.5:
            raise ValueError(f"max_reach_m must be in [0.1, 1.5] m, got {self.max_reach_m}")
        if not (
            self.filter_min_cutoff_hz > 0
            and self.filter_beta_position >= 0
            and self.filter_beta_rotation >= 0
        ):
            raise ValueError("filter cutoffs must be > 0 and betas >= 0")
        if not self.reseed_threshold_rad > 0:
            raise ValueError(f"reseed_threshold_rad must be > 0, got {self.reseed_threshold_rad}")


@dataclasses.dataclass
class _ArmState:
    engaged: bool = False
    blocked: bool = False
    toggle_armed: bool = True
    hand_toggle_on: bool = False
    anchor_hand: tuple[np.ndarray, np.ndarray] | None = None
    anchor_tcp: tuple[np.ndarray, np.ndarray] | None = None
    target: tuple[np.ndarray, np.ndarray] | None = None
    pos_filter: OneEuroFilter | None = None
    rot_filter: QuaternionOneEuroFilter | None = None


@dataclasses.dataclass(frozen=True)
class RetargetResult:
    """Output of one tick.

    Attributes:
        target: (16,) float64 commanded joint vector [rad | opening], schema order.
        engaged: (left, right) deadman state after this tick.
        tcp_targets: per arm the world TCP target ((3,) [m], (3, 3)) while engaged, else None.
        tcp_error_m: per arm the IK residual |FK(target) − TCP target| [m] (nan when released).
        calibrated: an operator alignment exists.
        frame: the pose message used (None if none or stale).
        aligned_now: an alignment happened this tick.
    """

    target: np.ndarray
    engaged: tuple[bool, bool]
    tcp_targets: tuple[tuple[np.ndarray, np.ndarray] | None, ...]
    tcp_error_m: tuple[float, float]
    calibrated: bool
    frame: XrFrame | None
    aligned_now: bool

    @property
    def any_engaged(self) -> bool:
        """At least one arm follows the operator."""
        return any(self.engaged)

    def status(self) -> dict[str, object]:
        """Small JSON-able state for the page."""
        return {
            "calibrated": self.calibrated,
            "engaged": [side for side, on in zip(SIDES, self.engaged, strict=True) if on],
        }


class Retargeter:
    """Stateful XR → 16-D target mapping (see the module docstring).

    Args:
        config: mapping parameters.
        ik: an IK solver (default: one built from ``config.ik`` on the package's URDF).
    """

    def __init__(self, config: RetargetConfig | None = None, ik: TeleopIK | None = None) -> None:
        self.config = config or RetargetConfig()
        self.ik = ik or TeleopIK(self.config.ik)
        self.alignment: np.ndarray | None = None
        self.q_cmd: np.ndarray | None = None
        self._posture: np.ndarray | None = None
        self._arms = [_ArmState(), _ArmState()]
        self._last_primary = [False, False]
        self._last_frame_ns = 0
        self._last_frame_key: tuple[int, int] | None = None
        self._block_frame: tuple[int, int] | None = None
        self._shoulders = self._shoulder_positions()

    def _shoulder_positions(self) -> list[np.ndarray]:
        import mujoco

        model = self.ik.model
        data = mujoco.MjData(model)
        mujoco.mj_kinematics(model, data)
        return [
            data.xpos[
                mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, f"{side}_shoulder_pitch_link")
            ].copy()
            for side in SIDES
        ]

    # ------------------------------------------------------------------ state

    @property
    def seeded(self) -> bool:
        """A measured state has seeded the command."""
        return self.q_cmd is not None

    def seed(self, q_measured: np.ndarray) -> None:
        """Start commanding from the measured (16,) state [rad | opening] (releases both arms).

        Raises:
            ValueError: wrong shape or non-finite values.
        """
        q = np.asarray(q_measured, dtype=np.float64)
        if q.shape != (schema.NUM_JOINTS,) or not np.all(np.isfinite(q)):
            raise ValueError(f"q_measured must be a finite (16,) vector, got shape {q.shape}")
        self.q_cmd = np.clip(q, schema.POSITION_LOWER, schema.POSITION_UPPER)
        self._posture = self.q_cmd[schema.ARMS].copy()
        for arm in self._arms:
            self._release(arm)

    def release_all(self, require_repress: bool = False) -> None:
        """Release both deadmen (hold).

        Args:
            require_repress: keep each arm released until its deadman has been let go and pressed
                again (after a stop / e-stop the operator must re-engage deliberately).
        """
        for arm in self._arms:
            self._release(arm)
            if require_repress:
                arm.blocked = True
                arm.hand_toggle_on = False
        if require_repress:
            self._block_frame = self._last_frame_key

    @staticmethod
    def _release(arm: _ArmState) -> None:
        arm.engaged = False
        arm.anchor_hand = arm.anchor_tcp = arm.target = None

    def observe_measured(self, q_measured: np.ndarray) -> None:
        """Feed the measured (16,) state; re-seeds while idle if the robot moved away from the command."""
        if self.q_cmd is None:
            self.seed(q_measured)
            return
        if any(arm.engaged for arm in self._arms):
            return
        q = np.asarray(q_measured, dtype=np.float64)
        if q.shape != (schema.NUM_JOINTS,) or not np.all(np.isfinite(q)):
            return
        moved = float(np.max(np.abs(q[schema.ARMS] - self.q_cmd[schema.ARMS])))
        if moved > self.config.reseed_threshold_rad:
            self.seed(q)

    def align(self, frame: XrFrame) -> bool:
        """Calibrate the operator heading from ``frame.head``; returns False without a usable head pose."""
        if frame.head is None:
            return False
        try:
            alignment = alignment_from_head(frame.head)
        except ValueError:
            return False
        self.alignment = alignment
        for arm in self._arms:
            if arm.engaged:  # re-anchor at the current target: no jump
                arm.anchor_hand = None
        return True

    # ------------------------------------------------------------------ deadman and grippers

    def _deadman(self, arm: _ArmState, hand: HandInput, mode: str) -> bool:
        if hand.pose is None:
            arm.hand_toggle_on = False
            arm.toggle_armed = True
            return False
        if mode == "controller":
            return hand.squeeze >= self.config.squeeze_threshold
        if mode == "hand":
            pinch = hand.pinch_middle
            if pinch is None:
                return arm.hand_toggle_on
            if arm.toggle_armed and pinch < self.config.engage_pinch_m:
                arm.hand_toggle_on = not arm.hand_toggle_on
                arm.toggle_armed = False
            elif pinch > self.config.release_pinch_m:
                arm.toggle_armed = True
            return arm.hand_toggle_on
        return False

    def _gripper_opening(self, hand: HandInput, mode: str) -> float | None:
        if mode == "controller":
            return 1.0 - hand.trigger
        if mode == "hand" and hand.pinch is not None:
            cfg = self.config
            return float(
                np.clip((hand.pinch - cfg.pinch_closed_m) / (cfg.pinch_open_m - cfg.pinch_closed_m), 0, 1)
            )
        return None

    # ------------------------------------------------------------------ mapping

    def _hand_pose(self, arm: _ArmState, hand: HandInput, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        assert self.alignment is not None and hand.pose is not None
        cfg = self.config
        if arm.pos_filter is None or arm.rot_filter is None:
            arm.pos_filter = OneEuroFilter(cfg.filter_min_cutoff_hz, cfg.filter_beta_position)
            arm.rot_filter = QuaternionOneEuroFilter(cfg.filter_min_cutoff_hz, cfg.filter_beta_rotation)
        position = arm.pos_filter(self.alignment @ hand.pose.position, dt_s)
        quat = arm.rot_filter(matrix_to_quat(self.alignment @ hand.pose.rotation()), dt_s)
        return position, quat_to_matrix(quat)

    def _clamp_reach(self, side: int, position: np.ndarray) -> np.ndarray:
        offset = position - self._shoulders[side]
        distance = float(np.linalg.norm(offset))
        if distance > self.config.max_reach_m:
            return self._shoulders[side] + offset * (self.config.max_reach_m / distance)
        return position

    def update(self, frame: XrFrame | None, now_ns: int, dt_s: float) -> RetargetResult:
        """One control tick.

        Args:
            frame: newest pose message (None before the first).
            now_ns: current system time [ns] (for the staleness check).
            dt_s: control period [s].

        Returns:
            The 16-D target and the arm states (see :class:`RetargetResult`).

        Raises:
            RuntimeError: called before :meth:`seed` / :meth:`observe_measured`.
        """
        if self.q_cmd is None or self._posture is None:
            raise RuntimeError("Retargeter.update needs a measured state first (seed / observe_measured)")
        cfg = self.config
        stale = frame is None or (frame.received_ns and now_ns - frame.received_ns > cfg.pose_timeout_s * 1e9)
        aligned_now = False
        if stale:
            self.release_all()
            frame = None
        else:
            assert frame is not None
            presses = [
                frame.left.primary and not self._last_primary[0],
                frame.right.primary and not self._last_primary[1],
            ]
            self._last_primary = [frame.left.primary, frame.right.primary]
            if frame.align or any(presses) or self.alignment is None:
                aligned_now = self.align(frame)
        frame_dt = dt_s
        if frame is not None and self._last_frame_ns and frame.received_ns:
            frame_dt = max((frame.received_ns - self._last_frame_ns) / 1e9, 0.0)
        if frame is not None:
            self._last_frame_ns = frame.received_ns
            self._last_frame_key = (frame.seq, frame.received_ns)
        # only a pose message received after a stop can show the deadman let go
        fresh = frame is not None and (frame.seq, frame.received_ns) != self._block_frame
        targets: list[tuple[np.ndarray, np.ndarray] | None] = [None, None]
        tcp_now = self.ik.tcp_poses(self.q_cmd[schema.ARMS])
        for side, arm in enumerate(self._arms):
            hand = frame.hand(side) if frame is not None else HandInput()
            mode = frame.mode if frame is not None else "none"
            deadman = frame is not None and self.alignment is not None and self._deadman(arm, hand, mode)
            if not deadman and fresh:
                arm.blocked = False
            if not deadman or arm.blocked:
                if arm.engaged:
                    self._release(arm)
                continue
            if not arm.engaged:
                arm.pos_filter = arm.rot_filter = None  # fresh filters: no history across engagements
            hand_pos, hand_rot = self._hand_pose(arm, hand, frame_dt)
            if not arm.engaged or arm.anchor_hand is None:
                if not arm.engaged:  # the null space holds the configuration the arm is engaged in
                    self._posture[_ARM_SLICES[side]] = self.q_cmd[_ARM_SLICES[side]]
                arm.engaged = True
                arm.anchor_hand = (hand_pos, hand_rot)
                arm.anchor_tcp = arm.target if arm.target is not None else tcp_now[side]
            p0, r0 = arm.anchor_hand
            tcp_p0, tcp_r0 = arm.anchor_tcp  # type: ignore[misc]
            position = self._clamp_reach(side, tcp_p0 + cfg.motion_scale * (hand_pos - p0))
            rotation = hand_rot @ r0.T @ tcp_r0
            arm.target = (position, rotation)
            targets[side] = arm.target
            opening = self._gripper_opening(hand, mode)
            if opening is not None:
                index = schema.LEFT_GRIPPER_INDEX + side
                step = schema.GRIPPER_LIMIT.velocity * dt_s
                self.q_cmd[index] = float(
                    np.clip(opening, self.q_cmd[index] - step, self.q_cmd[index] + step)
                )
        errors = [math.nan, math.nan]
        if any(t is not None for t in targets):
            self.q_cmd[schema.ARMS] = self.ik.solve(self.q_cmd[schema.ARMS], targets, self._posture, dt_s)
            achieved = self.ik.tcp_poses(self.q_cmd[schema.ARMS])
            for side, target in enumerate(targets):
                if target is not None:
                    errors[side] = float(np.linalg.norm(achieved[side][0] - target[0]))
        return RetargetResult(
            target=self.q_cmd.copy(),
            engaged=(self._arms[0].engaged, self._arms[1].engaged),
            tcp_targets=tuple(targets),
            tcp_error_m=(errors[0], errors[1]),
            calibrated=self.alignment is not None,
            frame=frame,
            aligned_now=aligned_now,
        )
