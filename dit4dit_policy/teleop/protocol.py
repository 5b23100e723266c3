"""Messages between the WebXR page and the teleop server (JSON text frames over a secure WebSocket).

Client → server, one ``pose`` message per XR animation frame (72-120 Hz on Quest 3 / Vision Pro)::

    {"type": "pose", "seq": 17, "t": 81234.5, "mode": "controller" | "hand" | "none",
     "head": [x, y, z, qx, qy, qz, qw] | null,
     "left":  {"pose": [7] | null, "trigger": 0.8, "squeeze": 1.0, "primary": false,
               "pinch": 0.031 | null, "pinch_middle": 0.09 | null},
     "right": {...},
     "align": false, "latency_ms": 23.4 | null}

* Poses are XRRigidTransforms in the page's ``local-floor`` reference space: position [m] then
  orientation quaternion (x, y, z, w); axes x right, y up, z towards the operator (WebXR).
* ``pose`` of a hand is the grip space of a controller or the ``wrist`` joint of a tracked hand;
  null when not tracked.
* ``trigger``/``squeeze`` are gamepad button values in [0, 1] (xr-standard mapping: button 0 =
  trigger, 1 = squeeze); ``primary`` is button 4 (A / X). ``pinch`` is the thumb-tip to
  index-tip distance [m] of a tracked hand, ``pinch_middle`` thumb-tip to middle-tip [m].
* ``t`` is the page's clock (``performance.now()`` [ms]) when the pose was sampled; the server
  echoes it back once a command computed from that pose has been published, so the page measures
  the full loop latency and reports it in ``latency_ms`` of later messages.
* ``align`` asks for an operator-to-robot frame calibration (press to align).

Server → client: ``{"type": "ack", "seq": 17, "t": 81234.5, "server_ms": 3.1, "state": {...}}``
(``server_ms`` = time the pose spent in the server: receive → command published) and
``{"type": "status", ...}`` with the retargeting state (engaged arms, calibration) for the page.

Torch-free; numpy only.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Literal

import numpy as np

#: Largest accepted message [bytes] (a pose message is ~500 B).
MAX_MESSAGE_BYTES = 16384

Mode = Literal["controller", "hand", "none"]


class ProtocolError(ValueError):
    """A client message does not follow the protocol; the message names the field."""


@dataclasses.dataclass(frozen=True)
class Pose:
    """A rigid transform in the XR reference space.

    Attributes:
        position: (3,) [m], XR axes (x right, y up, z back).
        quaternion: (4,) unit quaternion (x, y, z, w).
    """

    position: np.ndarray
    quaternion: np.ndarray

    def rotation(self) -> np.ndarray:
        """(3, 3) rotation matrix (body → XR reference space)."""
        return quat_to_matrix(self.quaternion)


@dataclasses.dataclass(frozen=True)
class HandInput:
    """One hand's pose and analog inputs.

    Attributes:
        pose: grip/wrist pose, None when not tracked.
        trigger: trigger value [0, 1] (controllers).
        squeeze: grip button value [0, 1] (controllers).
        primary: A/X button pressed (controllers).
        pinch: thumb–index tip distance [m] (hands), None if unknown.
        pinch_middle: thumb–middle tip distance [m] (hands), None if unknown.
    """

    pose: Pose | None = None
    trigger: float = 0.0
    squeeze: float = 0.0
    primary: bool = False
    pinch: float | None = None
    pinch_middle: float | None = None


@dataclasses.dataclass(frozen=True)
class XrFrame:
    """One decoded ``pose`` message.

    Attributes:
        seq: client sequence number.
        t_client_ms: page clock at sampling [ms].
        mode: input mode of the page.
        head: viewer pose, None when unknown.
        left: left hand inputs.
        right: right hand inputs.
        align: calibration requested.
        latency_ms: the page's last measured loop latency [ms], None if not yet measured.
        received_ns: server receive time [ns, system clock] (set by the server).
    """

    seq: int
    t_client_ms: float
    mode: Mode
    head: Pose | None
    left: HandInput
    right: HandInput
    align: bool = False
    latency_ms: float | None = None
    received_ns: int = 0

    def hand(self, side: int) -> HandInput:
        """Inputs of side 0 (left) or 1 (right)."""
        return self.left if side == 0 else self.right


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(4,) quaternion (x, y, z, w) → (3, 3) rotation matrix (normalises first)."""
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat(r: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix → (4,) unit quaternion (x, y, z, w) with w ≥ 0."""
    r = np.asarray(r, dtype=np.float64)
    trace = np.trace(r)
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = np.array([(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, 0.25 * s])
    else:
        i = int(np.argmax(np.diag(r)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(max(1.0 + r[i, i] - r[j, j] - r[k, k], 1e-12))
        q = np.empty(4)
        q[i] = 0.25 * s
        q[j] = (r[j, i] + r[i, j]) / s
        q[k] = (r[k, i] + r[i, k]) / s
        q[3] = (r[k, j] - r[j, k]) / s
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


def _number(value: Any, field: str, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProtocolError(f"'{field}' must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ProtocolError(f"'{field}' must be in [{low}, {high}], got {value!r}")
    return float(value)


def _pose(value: Any, field: str) -> Pose | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 7:
        raise ProtocolError(f"'{field}' must be null or [x, y, z, qx, qy, qz, qw], got {value!r}")
    numbers = np.array([_number(v, field, -100.0, 100.0) for v in value])
    norm = float(np.linalg.norm(numbers[3:]))
    if not 0.5 < norm < 1.5:
        raise ProtocolError(f"'{field}' quaternion must have unit norm, got norm {norm:.3f}")
    return Pose(numbers[:3], numbers[3:] / norm)


def _optional_distance(value: Any, field: str) -> float | None:
    return None if value is None else _number(value, field, 0.0, 10.0)


def _hand(value: Any, field: str) -> HandInput:
    if value is None:
        return HandInput()
    if not isinstance(value, dict):
        raise ProtocolError(f"'{field}' must be an object, got {type(value).__name__}")
    primary = value.get("primary", False)
    if not isinstance(primary, bool):
        raise ProtocolError(f"'{field}.primary' must be true or false, got {primary!r}")
    return HandInput(
        pose=_pose(value.get("pose"), f"{field}.pose"),
        trigger=_number(value.get("trigger", 0.0), f"{field}.trigger", 0.0, 1.0),
        squeeze=_number(value.get("squeeze", 0.0), f"{field}.squeeze", 0.0, 1.0),
        primary=primary,
        pinch=_optional_distance(value.get("pinch"), f"{field}.pinch"),
        pinch_middle=_optional_distance(value.get("pinch_middle"), f"{field}.pinch_middle"),
    )


def parse_message(text: str | bytes, received_ns: int = 0) -> XrFrame | dict[str, Any]:
    """Decode one client message.

    Args:
        text: the WebSocket text frame.
        received_ns: server receive time [ns] stored in the frame.

    Returns:
        An :class:`XrFrame` for ``pose`` messages; the decoded dict for other known types
        (``hello``).

    Raises:
        ProtocolError: malformed JSON, unknown type, or a bad field (named in the message).
    """
    if isinstance(text, bytes):
        raise ProtocolError("messages must be JSON text frames, got a binary frame")
    if len(text) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(text)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"message is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ProtocolError(f"message must be a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    if kind == "hello":
        return data
    if kind != "pose":
        raise ProtocolError(f"'type' must be 'pose' or 'hello', got {kind!r}")
    seq = data.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ProtocolError(f"'seq' must be a non-negative integer, got {seq!r}")
    mode = data.get("mode", "none")
    if mode not in ("controller", "hand", "none"):
        raise ProtocolError(f"'mode' must be 'controller', 'hand' or 'none', got {mode!r}")
    align = data.get("align", False)
    if not isinstance(align, bool):
        raise ProtocolError(f"'align' must be true or false, got {align!r}")
    latency = data.get("latency_ms")
    return XrFrame(
        seq=seq,
        t_client_ms=_number(data.get("t"), "t"),
        mode=mode,
        head=_pose(data.get("head"), "head"),
        left=_hand(data.get("left"), "left"),
        right=_hand(data.get("right"), "right"),
        align=align,
        latency_ms=None if latency is None else _number(latency, "latency_ms", 0.0, 1e6),
        received_ns=int(received_ns),
    )


def _pose_list(pose: Pose | None) -> list[float] | None:
    if pose is None:
        return None
    return [float(v) for v in (*pose.position, *pose.quaternion)]


def encode_frame(frame: XrFrame) -> str:
    """Encode an :class:`XrFrame` as the page would (scripted clients, recorded pose streams)."""

    def hand(h: HandInput) -> dict[str, Any]:
        return {
            "pose": _pose_list(h.pose),
            "trigger": h.trigger,
            "squeeze": h.squeeze,
            "primary": h.primary,
            "pinch": h.pinch,
            "pinch_middle": h.pinch_middle,
        }

    return json.dumps(
        {
            "type": "pose",
            "seq": frame.seq,
            "t": frame.t_client_ms,
            "mode": frame.mode,
            "head": _pose_list(frame.head),
            "left": hand(frame.left),
            "right": hand(frame.right),
            "align": frame.align,
            "latency_ms": frame.latency_ms,
        },
        separators=(",", ":"),
    )


def ack_message(seq: int, t_client_ms: float, server_ms: float, state: dict[str, Any]) -> str:
    """Server → client acknowledgement of the pose a published command was computed from."""
    return json.dumps(
        {"type": "ack", "seq": seq, "t": t_client_ms, "server_ms": round(server_ms, 3), "state": state},
        separators=(",", ":"),
    )
