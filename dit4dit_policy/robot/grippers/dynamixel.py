"""ALOHA-style Dynamixel gripper (X-series, Protocol 2.0) through ``dynamixel-sdk``.

No source ships an ALOHA2-on-G1 gripper driver (g1_spec §4, §10.1); the facts used here are the
X-series control table and practice in LeRobot (g1_spec §4):

* Protocol 2.0, 1 Mbps by default; 4096 ticks per revolution.
* Operating_Mode @11 (1 B) = 5 "current-based position" so that closing on an object is
  current-limited; Torque_Enable @64 (1 B); Goal_Current @102 (2 B, units of the model's current
  step, ~2.69 mA on XM430); Goal_Position @116 (4 B); Present_Position @132 (4 B, signed).
* Our 1-D mapping (g1_spec §4 recommendation): ``ticks = closed + g·(open − closed)`` and back,
  with per-gripper calibrated ``closed_ticks`` / ``open_ticks`` from a calibration file; the
  measured opening comes from Present_Position (so the state is not constant).

Several grippers can share one serial bus: :class:`DynamixelBus` serialises access with a lock.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path
from typing import Any

from dit4dit_policy.errors import DeviceNotConnectedError
from dit4dit_policy.robot.grippers.base import ThreadedGripper

logger = logging.getLogger(__name__)

#: X-series control table (g1_spec §4, LeRobot tables).
ADDR_OPERATING_MODE = 11
ADDR_TORQUE_ENABLE = 64
ADDR_GOAL_CURRENT = 102
ADDR_GOAL_POSITION = 116
ADDR_PRESENT_POSITION = 132
#: Operating_Mode value "current-based position control".
CURRENT_BASED_POSITION = 5
PROTOCOL_VERSION = 2.0
TICKS_PER_REV = 4096


@dataclasses.dataclass
class DynamixelCalibration:
    """Calibration of one gripper servo (one YAML file per gripper, see ``calibration/``).

    Attributes:
        servo_id: Dynamixel ID on the bus (0-252).
        closed_ticks: Present_Position when fully closed [ticks].
        open_ticks: Present_Position when fully open [ticks] (may be below closed_ticks).
        goal_current: Goal_Current limit in the servo's units (bounds the squeeze force).
    """

    servo_id: int
    closed_ticks: int
    open_ticks: int
    goal_current: int = 300

    def __post_init__(self) -> None:
        if not 0 <= self.servo_id <= 252:
            raise ValueError(f"servo_id must be a Dynamixel ID in [0, 252], got {self.servo_id!r}")
        for name in ("closed_ticks", "open_ticks"):
            value = getattr(self, name)
            if not -4 * TICKS_PER_REV <= value <= 4 * TICKS_PER_REV:
                raise ValueError(
                    f"{name} must be within ±4 revolutions ({4 * TICKS_PER_REV} ticks), got {value!r}"
                )
        if abs(self.open_ticks - self.closed_ticks) < 20:
            raise ValueError(
                f"open_ticks ({self.open_ticks}) and closed_ticks ({self.closed_ticks}) must differ "
                "by >= 20 ticks"
            )
        if not 1 <= self.goal_current <= 2047:
            raise ValueError(f"goal_current must be in [1, 2047], got {self.goal_current!r}")

    def to_ticks(self, opening: float) -> int:
        """Opening in [0, 1] → Goal_Position [ticks]."""
        return round(self.closed_ticks + opening * (self.open_ticks - self.closed_ticks))

    def to_opening(self, ticks: int) -> float:
        """Present_Position [ticks] → opening (not clipped)."""
        return (ticks - self.closed_ticks) / (self.open_ticks - self.closed_ticks)


def load_calibration(path: str | Path) -> DynamixelCalibration:
    """Read a calibration YAML (keys of :class:`DynamixelCalibration`; unknown keys are errors).

    Raises:
        ConfigError: missing file, bad YAML, unknown key or a failed range check.
    """
    from dit4dit_policy import config

    return config.load(DynamixelCalibration, path)


def _signed32(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


class DynamixelBus:
    """One serial port shared by several servos (access serialised by a lock).

    Args:
        port: device path, e.g. ``/dev/ttyUSB0``.
        baudrate: bits/s (1 Mbps default, g1_spec §4).
    """

    def __init__(self, port: str, baudrate: int = 1_000_000) -> None:
        self.port = port
        self.baudrate = int(baudrate)
        self.lock = threading.Lock()
        self._port_handler: Any = None
        self._packet: Any = None
        self._users = 0

    def open(self) -> None:
        """Open the port (reference-counted).

        Raises:
            DeviceNotConnectedError: the port cannot be opened or configured.
        """
        with self.lock:
            self._users += 1
            if self._port_handler is not None:
                return
            import dynamixel_sdk

            handler = dynamixel_sdk.PortHandler(self.port)
            try:
                ok = handler.openPort() and handler.setBaudRate(self.baudrate)
            except Exception as exc:  # pyserial raises SerialException/OSError on a missing device
                self._users -= 1
                raise DeviceNotConnectedError(f"cannot open Dynamixel port {self.port}: {exc}") from exc
            if not ok:
                self._users -= 1
                raise DeviceNotConnectedError(
                    f"cannot open Dynamixel port {self.port} at {self.baudrate} bit/s"
                )
            self._port_handler = handler
            self._packet = dynamixel_sdk.PacketHandler(PROTOCOL_VERSION)

    def close(self) -> None:
        """Release one user; closes the port when the last one leaves."""
        with self.lock:
            self._users = max(self._users - 1, 0)
            if self._users == 0 and self._port_handler is not None:
                self._port_handler.closePort()
                self._port_handler = self._packet = None

    def _check(self, servo_id: int, what: str, comm: int, error: int) -> None:
        if comm != 0:  # COMM_SUCCESS
            raise OSError(f"servo {servo_id}: {what}: {self._packet.getTxRxResult(comm)}")
        if error != 0:
            raise OSError(f"servo {servo_id}: {what}: {self._packet.getRxPacketError(error)}")

    def write(self, servo_id: int, address: int, size: int, value: int) -> None:
        """Write a 1/2/4-byte register (caller holds no lock; this method takes it).

        Raises:
            DeviceNotConnectedError: the bus is not open.
            OSError: communication or servo error.
        """
        with self.lock:
            if self._packet is None:
                raise DeviceNotConnectedError(f"Dynamixel bus {self.port} is not open")
            fn = {
                1: self._packet.write1ByteTxRx,
                2: self._packet.write2ByteTxRx,
                4: self._packet.write4ByteTxRx,
            }
            comm, error = fn[size](self._port_handler, servo_id, address, value & ((1 << (8 * size)) - 1))
            self._check(servo_id, f"write @{address}", comm, error)

    def read(self, servo_id: int, address: int, size: int) -> int:
        """Read a 1/2/4-byte register (4-byte values are signed).

        Raises:
            DeviceNotConnectedError: the bus is not open.
            OSError: communication or servo error.
        """
        with self.lock:
            if self._packet is None:
                raise DeviceNotConnectedError(f"Dynamixel bus {self.port} is not open")
            fn = {1: self._packet.read1ByteTxRx, 2: self._packet.read2ByteTxRx, 4: self._packet.read4ByteTxRx}
            value, comm, error = fn[size](self._port_handler, servo_id, address)
            self._check(servo_id, f"read @{address}", comm, error)
        return _signed32(value) if size == 4 else value


class DynamixelGripper(ThreadedGripper):
    """A gripper driven by one X-series servo in current-based position mode.

    Args:
        name: ``left_gripper`` / ``right_gripper``.
        bus: the serial bus (shared between grippers on one USB adapter).
        calibration: servo ID, closed/open ticks and current limit.
        rate_hz: I/O rate [Hz] (one write + one read per period).
    """

    def __init__(
        self, name: str, bus: DynamixelBus, calibration: DynamixelCalibration, rate_hz: float = 100.0
    ):
        super().__init__(name, rate_hz)
        self.bus = bus
        self.calibration = calibration

    def _open(self) -> None:
        cal = self.calibration
        self.bus.open()
        try:
            self.bus.write(cal.servo_id, ADDR_TORQUE_ENABLE, 1, 0)  # mode changes need torque off
            self.bus.write(cal.servo_id, ADDR_OPERATING_MODE, 1, CURRENT_BASED_POSITION)
            self.bus.write(cal.servo_id, ADDR_GOAL_CURRENT, 2, cal.goal_current)
            present = self.bus.read(cal.servo_id, ADDR_PRESENT_POSITION, 4)
            self.bus.write(cal.servo_id, ADDR_GOAL_POSITION, 4, present)  # no jump when torque comes on
            self.bus.write(cal.servo_id, ADDR_TORQUE_ENABLE, 1, 1)
        except Exception:
            self.bus.close()
            raise
        logger.info(
            "%s: servo %d in current-based position mode at %d ticks", self.name, cal.servo_id, present
        )

    def _io(self, target: float | None) -> float | None:
        cal = self.calibration
        if target is not None:
            self.bus.write(cal.servo_id, ADDR_GOAL_POSITION, 4, cal.to_ticks(target))
        return cal.to_opening(self.bus.read(cal.servo_id, ADDR_PRESENT_POSITION, 4))

    def _close(self) -> None:
        try:
            self.bus.write(self.calibration.servo_id, ADDR_TORQUE_ENABLE, 1, 0)
        except (OSError, DeviceNotConnectedError) as exc:
            logger.warning("%s: could not disable torque on close: %s", self.name, exc)
        self.bus.close()
