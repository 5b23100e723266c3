"""unitree_hg message layouts and CRC (g1_spec §1.2-1.3): sizes, offsets, vectors, SDK equivalence."""

import importlib
import os
import struct
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dit4dit_policy.robot import crc
from dit4dit_policy.robot import unitree_go as go
from dit4dit_policy.robot import unitree_hg as hg
from dit4dit_policy.robot.idl import unitree_go as own_go
from dit4dit_policy.robot.idl import unitree_hg as own_hg


def reference_crc(words):
    """Bit-serial transcription of the algorithm in g1_spec §1.3 (independent of crc.py)."""
    crc_value = 0xFFFFFFFF
    for word in words:
        bit = 1 << 31
        for _ in range(32):
            if crc_value & 0x80000000:
                crc_value = ((crc_value << 1) & 0xFFFFFFFF) ^ 0x04C11DB7
            else:
                crc_value = (crc_value << 1) & 0xFFFFFFFF
            if word & bit:
                crc_value ^= 0x04C11DB7
            bit >>= 1
    return crc_value


def reference_lowcmd_crc(msg):
    data = crc.pack_lowcmd(msg)
    return reference_crc(struct.unpack(f"<{len(data) // 4 - 1}I", data[:-4]))


def test_packed_sizes():
    assert crc.LOWCMD_SIZE == 1004
    assert crc.LOWSTATE_SIZE == 2092
    assert len(crc.pack_lowcmd(hg.new_lowcmd())) == 1004
    assert len(crc.pack_lowstate(hg.new_lowstate())) == 2092


def test_zero_lowcmd_vector():
    assert crc.lowcmd_crc(hg.new_lowcmd()) == crc.ZERO_LOWCMD_CRC == 4262932383
    assert reference_lowcmd_crc(hg.new_lowcmd()) == 4262932383


def test_reference_bitwise_algorithm_matches_known_vector():
    # 250 zero words: the number in g1_spec §1.3.
    assert reference_crc([0] * 250) == 4262932383


def test_lowcmd_byte_offsets():
    msg = hg.new_lowcmd(mode_pr=1, mode_machine=5)
    msg.motor_cmd[29].q = 0.75
    msg.motor_cmd[15].kd = 3.0
    msg.motor_cmd[15].mode = 1
    msg.reserve[3] = 7
    msg.crc = 0xDEADBEEF
    data = crc.pack_lowcmd(msg)
    assert data[0] == 1 and data[1] == 5
    assert data[4 + 28 * 15] == 1
    assert struct.unpack_from("<f", data, 4 + 28 * 29 + 4)[0] == 0.75
    assert struct.unpack_from("<f", data, 4 + 28 * 15 + 20)[0] == 3.0
    assert struct.unpack_from("<I", data, 984 + 12)[0] == 7
    assert struct.unpack_from("<I", data, 1000)[0] == 0xDEADBEEF


def test_crc_excludes_crc_field_and_changes_with_any_field():
    msg = hg.new_lowcmd()
    base = crc.lowcmd_crc(msg)
    msg.crc = 12345
    assert crc.lowcmd_crc(msg) == base
    msg.motor_cmd[20].dq = 1e-3
    assert crc.lowcmd_crc(msg) != base


def test_stamp_and_check():
    msg = hg.new_lowcmd(mode_machine=5)
    msg.motor_cmd[16].q = -0.3
    assert not crc.lowcmd_crc_ok(msg)
    crc.stamp_lowcmd_crc(msg)
    assert crc.lowcmd_crc_ok(msg)
    msg.motor_cmd[16].q = -0.31
    assert not crc.lowcmd_crc_ok(msg)
    state = hg.new_lowstate(mode_machine=5, tick=99)
    state.motor_state[3].q = 1.0
    crc.stamp_lowstate_crc(state)
    assert crc.lowstate_crc_ok(state)
    state.imu_state.rpy[2] = 0.1
    assert not crc.lowstate_crc_ok(state)


def test_unpackable_fields_are_clear_errors():
    msg = hg.new_lowcmd()
    msg.motor_cmd[3].mode = 300
    with pytest.raises(ValueError, match="LowCmd_"):
        crc.pack_lowcmd(msg)
    assert not crc.lowcmd_crc_ok(msg)
    msg = hg.new_lowcmd()
    msg.motor_cmd[3].q = 1e300
    with pytest.raises(ValueError, match="out of its range"):
        crc.lowcmd_crc(msg)
    msg = hg.new_lowcmd()
    msg.motor_cmd.pop()
    with pytest.raises(ValueError, match="35"):
        crc.pack_lowcmd(msg)
    with pytest.raises(ValueError, match="32-bit words"):
        crc.crc32_core(b"abc")


finite_f32 = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32)


@settings(max_examples=40, deadline=None)
@given(
    q=st.lists(finite_f32, min_size=35, max_size=35),
    kp=st.lists(st.floats(0, 500, width=32), min_size=35, max_size=35),
    mode_machine=st.integers(0, 255),
    reserve=st.lists(st.integers(0, 2**32 - 1), min_size=4, max_size=4),
)
def test_fast_crc_matches_bitwise_reference(q, kp, mode_machine, reserve):
    msg = hg.new_lowcmd(mode_machine=mode_machine)
    for i in range(35):
        msg.motor_cmd[i].q = q[i]
        msg.motor_cmd[i].kp = kp[i]
        msg.motor_cmd[i].mode = i % 2
    msg.reserve = reserve
    assert crc.lowcmd_crc(msg) == reference_lowcmd_crc(msg)


def test_own_types_have_exact_type_names_and_layouts():
    assert own_hg.LowCmd_.__idl_typename__ == "unitree_hg.msg.dds_.LowCmd_"
    assert own_hg.MotorCmd_.__idl_typename__ == "unitree_hg.msg.dds_.MotorCmd_"
    assert own_hg.LowState_.__idl_typename__ == "unitree_hg.msg.dds_.LowState_"
    assert own_hg.MotorState_.__idl_typename__ == "unitree_hg.msg.dds_.MotorState_"
    assert own_hg.IMUState_.__idl_typename__ == "unitree_hg.msg.dds_.IMUState_"
    for cls in (own_go.MotorCmd_, own_go.MotorCmds_, own_go.MotorState_, own_go.MotorStates_):
        assert cls.__idl_typename__ == f"unitree_go.msg.dds_.{cls.__name__}"
    assert list(own_hg.LowCmd_.__annotations__) == ["mode_pr", "mode_machine", "motor_cmd", "reserve", "crc"]
    assert list(own_hg.MotorState_.__annotations__) == [
        "mode", "q", "dq", "ddq", "tau_est", "temperature", "vol", "sensor", "motorstate", "reserve",
    ]  # fmt: skip
    assert list(own_go.MotorState_.__annotations__) == [
        "mode", "q", "dq", "ddq", "tau_est", "q_raw", "dq_raw", "ddq_raw", "temperature", "lost", "reserve",
    ]  # fmt: skip
    assert own_hg.LowCmd_().crc == 0 and len(own_hg.LowCmd_().motor_cmd) == 35


def test_factories_and_cdr_round_trip():
    msg = hg.new_lowcmd(mode_machine=5)
    msg.motor_cmd[29].q = 1.0
    back = hg.LowCmd_.deserialize(msg.serialize())
    assert back.mode_machine == 5 and back.motor_cmd[29].q == 1.0 and len(back.motor_cmd) == 35
    state = hg.new_lowstate(mode_machine=4, tick=7)
    back_state = hg.LowState_.deserialize(state.serialize())
    assert back_state.tick == 7 and back_state.imu_state.quaternion[0] == 1.0
    cmds = go.new_motor_cmds(1)
    cmds.cmds[0].q = 2.7
    assert go.MotorCmds_.deserialize(cmds.serialize()).cmds[0].q == pytest.approx(2.7)
    assert go.dex1_topics("left") == ("rt/dex1/left/cmd", "rt/dex1/left/state")
    with pytest.raises(ValueError, match="left"):
        go.dex1_topics("middle")


def _sdk():
    try:
        crc_module = importlib.import_module("unitree_sdk2py.utils.crc")
        dds_ = importlib.import_module("unitree_sdk2py.idl.unitree_hg.msg.dds_")
        crc_module.CRC()  # loads the SDK's native crc library
    except (ImportError, OSError) as exc:
        pytest.skip(f"unitree_sdk2py is not importable here ({exc}); install unitree-sdk2py-dimos==1.0.3")
    return crc_module, dds_


def _filled_lowcmd(factory_msg):
    msg = factory_msg
    msg.mode_machine = 5
    for i in range(35):
        m = msg.motor_cmd[i]
        m.mode, m.q, m.dq, m.tau, m.kp, m.kd = 1, 0.01 * i - 0.2, -0.5, 0.25, 60.0 + i, 1.5
    msg.motor_cmd[29].q = 0.625
    return msg


def test_own_types_pack_identically_to_unitree_sdk2py():
    crc_module, dds_ = _sdk()
    sdk_crc = crc_module.CRC()
    ours = _filled_lowcmd(own_hg.LowCmd_())
    theirs = dds_.LowCmd_.deserialize(ours.serialize())  # same CDR bytes decode into the SDK type
    assert theirs.motor_cmd[29].q == 0.625
    # The SDK's packer returns the words the CRC covers: all but the trailing crc word.
    sdk_words = sdk_crc._CRC__PackHGLowCmd(theirs)
    assert list(sdk_words) == list(struct.unpack("<250I", crc.pack_lowcmd(ours)[:-4]))
    assert sdk_crc.Crc(theirs) == crc.lowcmd_crc(ours)

    state = own_hg.LowState_(mode_machine=5, tick=1234)
    for i in range(35):
        state.motor_state[i].q = 0.02 * i
        state.motor_state[i].temperature = [30 + i, 31]
        state.motor_state[i].sensor = [i, 2 * i]
    state.imu_state.rpy = [0.1, -0.2, 0.3]
    state.wireless_remote[5] = 200
    their_state = dds_.LowState_.deserialize(state.serialize())
    assert list(sdk_crc._CRC__PackHGLowState(their_state)) == list(
        struct.unpack("<522I", crc.pack_lowstate(state)[:-4])
    )
    assert sdk_crc.Crc(their_state) == crc.lowstate_crc(state)
    assert their_state.serialize() == state.serialize()


def test_type_selection_env_switch():
    code = (
        "from dit4dit_policy.robot import unitree_hg, unitree_go;"
        "print(unitree_hg.TYPES_SOURCE, unitree_go.TYPES_SOURCE, unitree_hg.LowCmd_.__module__)"
    )
    env = dict(os.environ, DIT4DIT_UNITREE_IDL="own")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == ["dit4dit_policy", "dit4dit_policy"]
    env["DIT4DIT_UNITREE_IDL"] = "bogus"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "DIT4DIT_UNITREE_IDL" in out.stderr
