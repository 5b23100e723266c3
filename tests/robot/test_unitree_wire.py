"""Raw CDR fast path (robot/wire.py): byte equality with cyclonedds' serialiser, and DDS interop."""

import importlib
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dit4dit_policy.robot import crc, unitree_hg, wire
from dit4dit_policy.robot.dds import DdsSession
from dit4dit_policy.robot.idl import unitree_hg as own_hg

f32 = st.floats(-1e4, 1e4, width=32)
u8 = st.integers(0, 255)
u32 = st.integers(0, 2**32 - 1)


@st.composite
def lowcmds(draw):
    msg = own_hg.LowCmd_(mode_pr=draw(u8), mode_machine=draw(u8))
    for m in msg.motor_cmd:
        m.mode, m.q, m.dq, m.tau, m.kp, m.kd, m.reserve = (
            draw(u8), draw(f32), draw(f32), draw(f32), draw(f32), draw(f32), draw(u32),
        )  # fmt: skip
    msg.reserve = draw(st.lists(u32, min_size=4, max_size=4))
    msg.crc = draw(u32)
    return msg


@st.composite
def lowstates(draw):
    msg = own_hg.LowState_(mode_pr=draw(u8), mode_machine=draw(u8), tick=draw(u32))
    msg.version = draw(st.lists(u32, min_size=2, max_size=2))
    msg.imu_state.rpy = draw(st.lists(f32, min_size=3, max_size=3))
    msg.imu_state.temperature = draw(st.integers(-32768, 32767))
    for m in msg.motor_state:
        m.mode, m.q, m.dq, m.tau_est = draw(u8), draw(f32), draw(f32), draw(f32)
        m.temperature = draw(st.lists(st.integers(-32768, 32767), min_size=2, max_size=2))
        m.sensor = draw(st.lists(u32, min_size=2, max_size=2))
        m.motorstate = draw(u32)
    msg.wireless_remote = draw(st.lists(u8, min_size=40, max_size=40))
    msg.crc = draw(u32)
    return msg


@settings(max_examples=30, deadline=None)
@given(msg=lowcmds())
def test_lowcmd_cdr_round_trip_matches_cyclonedds(msg):
    data = msg.serialize()
    arr = wire.lowcmd_from_cdr(data)
    assert arr.tobytes() == crc.pack_lowcmd(msg)  # the C layout the CRC covers
    assert wire.lowcmd_to_cdr(arr, stamp_crc=False) == data
    assert wire.array_crc(arr) == crc.lowcmd_crc(msg)


@settings(max_examples=30, deadline=None)
@given(msg=lowstates())
def test_lowstate_cdr_round_trip_matches_cyclonedds(msg):
    data = msg.serialize()
    arr = wire.lowstate_from_cdr(data)
    assert arr.tobytes() == crc.pack_lowstate(msg)
    assert wire.lowstate_to_cdr(arr, stamp_crc=False) == data
    stamped = wire.lowstate_to_cdr(arr)  # stamps the CRC
    assert own_hg.LowState_.deserialize(stamped).crc == crc.lowstate_crc(msg)


def test_padding_garbage_on_the_wire_does_not_change_the_crc():
    msg = unitree_hg.new_lowstate(mode_machine=5)
    msg.motor_state[16].q = 0.5
    crc.stamp_lowstate_crc(msg)
    data = bytearray(msg.serialize())
    data[4 + 71] = 0xAB  # CDR padding after motor_state[0].mode
    data[4 + 125] = 0xCD  # padding inside motor_state[1]
    arr = wire.lowstate_from_cdr(bytes(data))
    assert wire.array_crc_ok(arr)


def test_stamped_lowcmd_is_what_the_sdk_computes():
    arr = wire.new_lowcmd_array()
    arr["mode_machine"] = 5
    arr["motor_cmd"]["q"][15:29] = np.linspace(-1, 1, 14)
    arr["motor_cmd"]["q"][29] = 0.5
    data = wire.lowcmd_to_cdr(arr)
    msg = unitree_hg.LowCmd_.deserialize(data)
    assert msg.crc == crc.lowcmd_crc(msg) == int(arr["crc"])
    assert msg.motor_cmd[29].q == 0.5 and msg.mode_machine == 5


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"\x00\x01\x00\x00" + b"\x00" * 100, "1004 CDR bytes"),
        (b"\x00\x00\x00\x00" + b"\x00" * 1000, "encapsulation 0000"),
        (b"\x00\x03\x00\x00" + b"\x00" * 1000, "encapsulation 0003"),
    ],
)
def test_malformed_samples_raise_wire_format_error(data, needle):
    with pytest.raises(wire.WireFormatError, match=needle):
        wire.lowcmd_from_cdr(data)


def test_xcdr2_plain_little_endian_is_accepted():
    msg = unitree_hg.new_lowcmd(mode_machine=4)
    data = msg.serialize()
    arr = wire.lowcmd_from_cdr(b"\x00\x07" + data[2:])
    assert int(arr["mode_machine"]) == 4


def _take_within(reader, seconds=5.0, raw=False):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = wire.take_raw(reader) if raw else reader.take(N=10)
        if got:
            return got
        time.sleep(0.01)
    return []


def test_raw_write_is_read_by_typed_readers_and_vice_versa(dds_domain):
    from cyclonedds.pub import DataWriter
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic

    session = DdsSession(dds_domain)
    part = session.participant
    topic = Topic(part, "rt/arm_sdk", unitree_hg.LowCmd_)
    writer, typed_reader, raw_reader = (
        DataWriter(part, topic),
        DataReader(part, topic),
        DataReader(part, topic),
    )
    arr = wire.new_lowcmd_array()
    arr["motor_cmd"]["q"][29] = 0.25
    arr["motor_cmd"]["kp"][15:29] = 60.0
    time.sleep(0.2)
    wire.write_raw(writer, wire.lowcmd_to_cdr(arr))
    (msg,) = _take_within(typed_reader)
    assert msg.motor_cmd[29].q == 0.25 and msg.motor_cmd[20].kp == 60.0 and crc.lowcmd_crc_ok(msg)
    (raw,) = _take_within(raw_reader, raw=True)
    assert raw[0][:2] == b"\x00\x01" and wire.lowcmd_from_cdr(raw[0]).tobytes() == arr.tobytes()
    typed = unitree_hg.new_lowcmd(mode_machine=3)
    writer.write(crc.stamp_lowcmd_crc(typed))
    (raw,) = _take_within(raw_reader, raw=True)
    assert wire.array_crc_ok(wire.lowcmd_from_cdr(raw[0]))
    _take_within(typed_reader)


def test_own_types_interoperate_with_unitree_sdk2py_over_dds(dds_domain):
    try:
        sdk = importlib.import_module("unitree_sdk2py.idl.unitree_hg.msg.dds_")
    except ImportError as exc:
        pytest.skip(f"unitree_sdk2py is not importable here ({exc})")
    from cyclonedds.pub import DataWriter
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic

    a, b = DdsSession(dds_domain), DdsSession(dds_domain)
    writer = DataWriter(a.participant, Topic(a.participant, "rt/lowstate", own_hg.LowState_))
    reader = DataReader(b.participant, Topic(b.participant, "rt/lowstate", sdk.LowState_))
    state = own_hg.LowState_(mode_machine=5, tick=42)
    state.motor_state[22].q = -0.75
    crc.stamp_lowstate_crc(state)
    deadline = time.monotonic() + 10
    got = []
    while not got and time.monotonic() < deadline:
        writer.write(state)
        time.sleep(0.05)
        got = reader.take(N=5)
    assert got, "no sample crossed from our type to the SDK type"
    assert type(got[0]).__module__.startswith("unitree_sdk2py")
    assert got[0].tick == 42 and got[0].motor_state[22].q == -0.75 and got[0].crc == state.crc
