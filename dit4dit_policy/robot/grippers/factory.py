"""Build the left/right gripper pair from configuration."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from dit4dit_policy.robot.dds import DdsSession
from dit4dit_policy.robot.grippers.base import Gripper
from dit4dit_policy.robot.grippers.dex1 import DEX1_KD, DEX1_KP, DEX1_MAX_Q_RAD, DEX1_RATE_HZ, Dex1Gripper
from dit4dit_policy.robot.grippers.sim import SimGripper

GripperKind = Literal["none", "sim", "dex1", "dynamixel"]


@dataclasses.dataclass
class GripperConfig:
    """Which grippers drive dims 14-15 (left, right) of the 16-D vector.

    Attributes:
        kind: ``dex1`` (Unitree Dex1-1 over DDS; also what the simulator serves), ``dynamixel``
            (ALOHA-style, dynamixel-sdk), ``sim`` (in-process model, no device) or ``none``
            (dims 14-15 are commanded nowhere and measured as the last command).
        state_max_age_s: a gripper measurement older than this makes the state stale [s].
        dex1_max_q_rad: Dex1 motor q at full opening [rad] (g1_spec §4).
        dex1_kp: Dex1 motor kp (g1_spec §4: 5).
        dex1_kd: Dex1 motor kd (g1_spec §4: 0.05).
        dex1_rate_hz: Dex1 command/state rate [Hz] (g1_spec §1.6: 200).
        dynamixel_port: serial device of the Dynamixel bus.
        dynamixel_baudrate: bus speed [bit/s] (g1_spec §4: 1 Mbps).
        dynamixel_left_calibration: calibration YAML of the left gripper servo.
        dynamixel_right_calibration: calibration YAML of the right gripper servo.
        dynamixel_rate_hz: Dynamixel I/O rate per gripper [Hz].
        sim_speed: simulated gripper speed [opening/s].
    """

    kind: GripperKind = "dex1"
    state_max_age_s: float = 0.25
    dex1_max_q_rad: float = DEX1_MAX_Q_RAD
    dex1_kp: float = DEX1_KP
    dex1_kd: float = DEX1_KD
    dex1_rate_hz: float = DEX1_RATE_HZ
    dynamixel_port: str = "/dev/ttyUSB0"
    dynamixel_baudrate: int = 1_000_000
    dynamixel_left_calibration: Path | None = None
    dynamixel_right_calibration: Path | None = None
    dynamixel_rate_hz: float = 100.0
    sim_speed: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in ("none", "sim", "dex1", "dynamixel"):
            raise ValueError(f"grippers.kind must be 'none', 'sim', 'dex1' or 'dynamixel', got {self.kind!r}")
        if not 0.005 <= self.state_max_age_s <= 10.0:
            raise ValueError(
                f"grippers.state_max_age_s must be in [0.005, 10] s, got {self.state_max_age_s!r}"
            )
        if self.kind == "dynamixel" and (
            self.dynamixel_left_calibration is None or self.dynamixel_right_calibration is None
        ):
            raise ValueError(
                "grippers.kind 'dynamixel' needs dynamixel_left_calibration and dynamixel_right_calibration "
                "(YAML files with servo_id, closed_ticks, open_ticks, goal_current)"
            )


def make_grippers(config: GripperConfig, session: DdsSession | None) -> tuple[Gripper, Gripper] | None:
    """The (left, right) grippers for ``config``, not yet started; None for ``kind: none``.

    Raises:
        ValueError: ``dex1`` without a DDS session.
        ConfigError: unreadable Dynamixel calibration files.
    """
    if config.kind == "none":
        return None
    if config.kind == "sim":
        return SimGripper("left_gripper", config.sim_speed), SimGripper("right_gripper", config.sim_speed)
    if config.kind == "dex1":
        if session is None:
            raise ValueError("Dex1 grippers need the controller's DDS session")
        kwargs = dict(
            max_q_rad=config.dex1_max_q_rad, kp=config.dex1_kp, kd=config.dex1_kd, rate_hz=config.dex1_rate_hz
        )
        return Dex1Gripper(session, "left", **kwargs), Dex1Gripper(session, "right", **kwargs)
    from dit4dit_policy.robot.grippers.dynamixel import DynamixelBus, DynamixelGripper, load_calibration

    if config.dynamixel_left_calibration is None or config.dynamixel_right_calibration is None:
        raise ValueError("grippers.kind 'dynamixel' needs both calibration files")
    bus = DynamixelBus(config.dynamixel_port, config.dynamixel_baudrate)
    left = load_calibration(config.dynamixel_left_calibration)
    right = load_calibration(config.dynamixel_right_calibration)
    if left.servo_id == right.servo_id:
        raise ValueError(
            f"left and right gripper servos share Dynamixel ID {left.servo_id} on {config.dynamixel_port}"
        )
    return (
        DynamixelGripper("left_gripper", bus, left, config.dynamixel_rate_hz),
        DynamixelGripper("right_gripper", bus, right, config.dynamixel_rate_hz),
    )
