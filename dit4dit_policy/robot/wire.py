"""Zero-object fast path for ``unitree_hg`` ``LowCmd_`` / ``LowState_``: numpy views of the C layout.

cyclonedds-python (de)serialises these messages field by field: ~150 µs to serialise a
``LowCmd_`` and ~270 µs to deserialise a ``LowState_`` (measured on the dev machine), which is a
large share of a 2-4 ms control tick. Both types are ``@final`` structs of fixed-size primitives, so
their CDR body is a fixed byte layout (identical under XCDR1 and XCDR2, which only differ for 8-byte
types) that differs from the packed C layout used by the CRC (g1_spec §1.3) only in the padding
before the first motor:

* LowCmd_  : CDR body (1000 B) = C[0:2] + C[4:5] + pad + C[8:1004]
* LowState_: CDR body (2088 B) = C[0:70] + C[72:73] + pad + C[76:2092]

(CDR aligns each primitive to its size from the body start; C aligns the nested struct to 4.)
This module converts between the two with byte slices and exposes the C layout as numpy structured
scalars (:data:`LOWCMD_DTYPE`, :data:`LOWSTATE_DTYPE`), so a tick costs a few microseconds. The wire
format is unchanged: readers and writers still use the ordinary IDL types for discovery, and
tests/robot/test_unitree_wire.py checks byte equality with cyclonedds' own serialiser.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dit4dit_policy.robot.crc import LOWCMD_SIZE, LOWSTATE_SIZE, crc32_core

NUM_MOTORS = 35

#: unitree_hg MotorCmd_ in the C layout (28 bytes).
MOTOR_CMD_DTYPE = np.dtype(
    {
        "names": ["mode", "q", "dq", "tau", "kp", "kd", "reserve"],
        "formats": ["u1", "<f4", "<f4", "<f4", "<f4", "<f4", "<u4"],
        "offsets": [0, 4, 8, 12, 16, 20, 24],
        "itemsize": 28,
    }
)
#: unitree_hg LowCmd_ in the C layout (1004 bytes, g1_spec §1.3 offsets).
LOWCMD_DTYPE = np.dtype(
    {
        "names": ["mode_pr", "mode_machine", "motor_cmd", "reserve", "crc"],
        "formats": ["u1", "u1", (MOTOR_CMD_DTYPE, NUM_MOTORS), ("<u4", 4), "<u4"],
        "offsets": [0, 1, 4, 984, 1000],
        "itemsize": LOWCMD_SIZE,
    }
)
#: unitree_hg IMUState_ in the C layout (56 bytes with tail padding).
IMU_STATE_DTYPE = np.dtype(
    {
        "names": ["quaternion", "gyroscope", "accelerometer", "rpy", "temperature"],
        "formats": [("<f4", 4), ("<f4", 3), ("<f4", 3), ("<f4", 3), "<i2"],
        "offsets": [0, 16, 28, 40, 52],
        "itemsize": 56,
    }
)
#: unitree_hg MotorState_ in the C layout (56 bytes).
MOTOR_STATE_DTYPE = np.dtype(
    {
        "names": [
            "mode",
            "q",
            "dq",
            "ddq",
            "tau_est",
            "temperature",
            "vol",
            "sensor",
            "motorstate",
            "reserve",
        ],
        "formats": ["u1", "<f4", "<f4", "<f4", "<f4", ("<i2", 2), "<f4", ("<u4", 2), "<u4", ("<u4", 4)],
        "offsets": [0, 4, 8, 12, 16, 20, 24, 28, 36, 40],
        "itemsize": 56,
    }
)
#: unitree_hg LowState_ in the C layout (2092 bytes).
LOWSTATE_DTYPE = np.dtype(
    {
        "names": [
            "version",
            "mode_pr",
            "mode_machine",
            "tick",
            "imu_state",
            "motor_state",
            "wireless_remote",
            "reserve",
            "crc",
        ],
        "formats": [
            ("<u4", 2),
            "u1",
            "u1",
            "<u4",
            IMU_STATE_DTYPE,
            (MOTOR_STATE_DTYPE, NUM_MOTORS),
            ("u1", 40),
            ("<u4", 4),
            "<u4",
        ],
        "offsets": [0, 8, 9, 12, 16, 72, 2032, 2072, 2088],
        "itemsize": LOWSTATE_SIZE,
    }
)

#: CDR encapsulation headers: XCDR1 little endian (what cyclonedds writes for these types) and
#: XCDR2 plain little endian; both give the same body for these types.
CDR_LE_HEADER = b"\x00\x01\x00\x00"
_LE_ENCAPSULATIONS = (b"\x00\x01", b"\x00\x07")
LOWCMD_CDR_SIZE = 4 + 1000
LOWSTATE_CDR_SIZE = 4 + 2088


def _field_mask(dtype: np.dtype) -> np.ndarray:
    """(itemsize,) uint8 mask: 0xFF on bytes that belong to a field, 0 on padding."""
    mask = np.zeros(dtype.itemsize, dtype=np.uint8)

    def mark(dt: np.dtype, base: int) -> None:
        if dt.fields is None:
            if dt.subdtype is not None:
                sub, shape = dt.subdtype
                for k in range(int(np.prod(shape))):
                    mark(sub, base + k * sub.itemsize)
            else:
                mask[base : base + dt.itemsize] = 0xFF
            return
        for field_dt, offset in (v[:2] for v in dt.fields.values()):
            mark(field_dt, base + offset)

    mark(dtype, 0)
    return mask


_LOWCMD_MASK = _field_mask(LOWCMD_DTYPE)
_LOWSTATE_MASK = _field_mask(LOWSTATE_DTYPE)


def _as_struct(c_bytes: bytes, mask: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A writable 0-d structured array over ``c_bytes`` with every padding byte zeroed."""
    return (np.frombuffer(c_bytes, dtype=np.uint8) & mask).view(dtype).reshape(())


class WireFormatError(ValueError):
    """A received sample is not a little-endian CDR encoding of the expected fixed-size type."""


def new_lowcmd_array() -> np.ndarray:
    """A zeroed ``LowCmd_`` as a numpy structured scalar (0-d array of :data:`LOWCMD_DTYPE`)."""
    return np.zeros((), dtype=LOWCMD_DTYPE)


def new_lowstate_array() -> np.ndarray:
    """A zeroed ``LowState_`` (identity IMU quaternion) as a 0-d array of :data:`LOWSTATE_DTYPE`."""
    state = np.zeros((), dtype=LOWSTATE_DTYPE)
    state["imu_state"]["quaternion"][0] = 1.0
    return state


def _check_cdr(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise WireFormatError(f"{what} sample must be {size} CDR bytes (with header), got {len(data)}")
    if data[:2] not in _LE_ENCAPSULATIONS:
        raise WireFormatError(
            f"{what} sample uses CDR encapsulation {data[:2].hex()}; expected little-endian 0001 or 0007"
        )


def lowcmd_to_cdr(cmd: np.ndarray, stamp_crc: bool = True) -> bytes:
    """Serialise a :data:`LOWCMD_DTYPE` scalar to CDR bytes (with header), optionally stamping its CRC.

    Args:
        cmd: 0-d array of :data:`LOWCMD_DTYPE`; its ``crc`` field is updated when ``stamp_crc``.
        stamp_crc: compute the CRC (g1_spec §1.3) and store it in ``cmd["crc"]`` and the bytes.

    Returns:
        1004 bytes ready for ``ddspy_write`` on a ``LowCmd_`` topic.
    """
    c = cmd.tobytes()
    if stamp_crc:
        value = crc32_core(c[:-4])
        cmd["crc"] = value
        c = c[:-4] + value.to_bytes(4, "little")
    return CDR_LE_HEADER + c[0:2] + c[4:5] + b"\x00" + c[8:]


def lowcmd_from_cdr(data: bytes) -> np.ndarray:
    """Decode CDR bytes (with header) of a ``LowCmd_`` into a :data:`LOWCMD_DTYPE` scalar.

    Raises:
        WireFormatError: wrong size or a big-endian / unknown encapsulation.
    """
    _check_cdr(data, LOWCMD_CDR_SIZE, "LowCmd_")
    body = data[4:LOWCMD_CDR_SIZE]
    c = body[0:2] + b"\x00\x00" + body[2:3] + b"\x00\x00\x00" + body[4:]
    return _as_struct(c, _LOWCMD_MASK, LOWCMD_DTYPE)


def lowstate_to_cdr(state: np.ndarray, stamp_crc: bool = True) -> bytes:
    """Serialise a :data:`LOWSTATE_DTYPE` scalar to CDR bytes (with header), optionally stamping its CRC."""
    c = state.tobytes()
    if stamp_crc:
        value = crc32_core(c[:-4])
        state["crc"] = value
        c = c[:-4] + value.to_bytes(4, "little")
    return CDR_LE_HEADER + c[0:70] + c[72:73] + b"\x00" + c[76:]


def lowstate_from_cdr(data: bytes) -> np.ndarray:
    """Decode CDR bytes (with header) of a ``LowState_`` into a :data:`LOWSTATE_DTYPE` scalar.

    Raises:
        WireFormatError: wrong size or a big-endian / unknown encapsulation.
    """
    _check_cdr(data, LOWSTATE_CDR_SIZE, "LowState_")
    body = data[4:LOWSTATE_CDR_SIZE]
    c = body[0:70] + b"\x00\x00" + body[70:71] + b"\x00\x00\x00" + body[72:]
    return _as_struct(c, _LOWSTATE_MASK, LOWSTATE_DTYPE)


def array_crc(msg: np.ndarray) -> int:
    """CRC (g1_spec §1.3) of a LowCmd_/LowState_ structured scalar, excluding its crc field."""
    return crc32_core(msg.tobytes()[:-4])


def array_crc_ok(msg: np.ndarray) -> bool:
    """Whether the ``crc`` field of a LowCmd_/LowState_ structured scalar matches its content."""
    return int(msg["crc"]) == array_crc(msg)


def write_raw(writer: Any, data: bytes) -> None:
    """Write pre-serialised CDR bytes (with header) on a cyclonedds ``DataWriter``.

    Raises:
        cyclonedds.core.DDSException: the write failed.
    """
    from cyclonedds._clayer import ddspy_write
    from cyclonedds.core import DDSException

    ret = ddspy_write(writer._ref, data)
    if ret < 0:
        raise DDSException(ret, f"while writing raw sample on {writer!r}")


def take_raw(reader: Any, max_samples: int = 64) -> list[tuple[bytes, Any]]:
    """Take up to ``max_samples`` samples as ``(cdr_bytes, sample_info)`` without deserialising.

    Invalid samples (disposals, no data) are skipped.

    Raises:
        cyclonedds.core.DDSException: the take failed.
    """
    from cyclonedds._clayer import ddspy_take
    from cyclonedds.core import DDSException

    ret = ddspy_take(reader._ref, max_samples)
    if isinstance(ret, int):
        raise DDSException(ret, f"while taking raw samples from {reader!r}")
    return [(data, info) for data, info in ret if info.valid_data]
