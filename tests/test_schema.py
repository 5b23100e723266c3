import numpy as np
import pytest

from dit4dit_policy import schema


def test_vector_order_and_names():
    assert len(schema.JOINT_NAMES) == schema.NUM_JOINTS == 16
    assert schema.JOINT_NAMES[:7] == tuple(f"left_{s}_joint" for s in schema.ARM_JOINT_SUFFIXES)
    assert schema.JOINT_NAMES[7:14] == tuple(f"right_{s}_joint" for s in schema.ARM_JOINT_SUFFIXES)
    assert schema.JOINT_NAMES[14:] == ("left_gripper", "right_gripper")
    assert schema.UNITREE_MOTOR_NAMES[0] == "kLeftShoulderPitch"
    assert schema.UNITREE_MOTOR_NAMES[13] == "kRightWristYaw"
    assert len(set(schema.JOINT_NAMES)) == 16


def test_motor_map_matches_g1_spec():
    # g1_spec §2.1: arms at 15..28, left then right; weight at 29.
    assert tuple(range(15, 29)) == schema.ARM_MOTOR_INDICES
    for dim, motor in enumerate(schema.ARM_MOTOR_INDICES):
        assert schema.G1_29DOF_MOTOR_NAMES[motor] == schema.JOINT_NAMES[dim]
    assert schema.ARM_SDK_WEIGHT_INDEX == 29
    assert len(schema.G1_29DOF_MOTOR_NAMES) == 29
    names23 = schema.motor_names_for("23dof")
    assert [i for i, n in enumerate(names23) if n is None] == [13, 14, 20, 21, 27, 28]
    assert names23[19] == "left_wrist_roll_joint"
    with pytest.raises(ValueError, match="29dof"):
        schema.motor_names_for("27dof")


def test_limits_match_g1_spec():
    lim = dict(zip(schema.JOINT_NAMES, schema.JOINT_LIMITS, strict=True))
    assert (lim["left_shoulder_pitch_joint"].lower, lim["left_shoulder_pitch_joint"].upper) == (
        -3.0892,
        2.6704,
    )
    assert (lim["left_shoulder_roll_joint"].lower, lim["left_shoulder_roll_joint"].upper) == (-1.5882, 2.2515)
    assert (lim["right_shoulder_roll_joint"].lower, lim["right_shoulder_roll_joint"].upper) == (
        -2.2515,
        1.5882,
    )
    assert lim["left_elbow_joint"].upper == 2.0944
    assert lim["right_wrist_yaw_joint"].velocity == 22.0 and lim["right_wrist_yaw_joint"].effort == 5.0
    assert lim["left_wrist_roll_joint"].velocity == 37.0 and lim["left_wrist_roll_joint"].effort == 25.0
    assert (lim["left_gripper"].lower, lim["left_gripper"].upper) == (0.0, 1.0)
    assert np.all(schema.POSITION_LOWER < schema.POSITION_UPPER)
    with pytest.raises(ValueError):
        schema.POSITION_LOWER[0] = 0.0  # read-only


def test_joint_limit_validation():
    with pytest.raises(ValueError, match="lower < upper"):
        schema.JointLimit(1.0, 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="velocity"):
        schema.JointLimit(0.0, 1.0, 0.0, 1.0)


def _obs(**kw):
    base = dict(
        image=np.zeros((48, 64, 3), np.uint8),
        image_stamp_ns=1_000,
        state=np.zeros(16, np.float32),
        state_stamp_ns=1_000,
        task="stack the cups",
    )
    base.update(kw)
    return schema.Observation(**base)


def test_observation_valid():
    obs = _obs()
    assert obs.stamp_ns == 1_000


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"image": np.zeros((48, 64), np.uint8)}, "H, W, 3"),
        ({"image": np.zeros((48, 64, 3), np.float32)}, "uint8"),
        ({"image": [[0]]}, "numpy array"),
        ({"state": np.zeros(14, np.float32)}, r"shape \(16,\)"),
        ({"state": np.array([np.nan] + [0.0] * 15)}, "finite"),
        ({"state": np.zeros(16, np.int64)}, "floating"),
        ({"image_stamp_ns": -1}, ">= 0"),
        ({"state_stamp_ns": 1.5}, "integer"),
        ({"task": "  "}, "instruction"),
    ],
)
def test_observation_rejects(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _obs(**kw)


def test_action_chunk_from_positions_times():
    chunk = schema.ActionChunk.from_positions(np.zeros((16, 16)), stamp_ns=10**9)
    assert chunk.horizon == 16
    expected = 10**9 + np.round(np.arange(16) * 1e9 / 30).astype(np.int64)  # no drift over the chunk
    np.testing.assert_array_equal(chunk.times_ns, expected)
    assert chunk.times_ns[0] == 10**9


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"positions": np.zeros((4, 15))}, r"\(H >= 1, 16\)"),
        ({"positions": np.zeros((0, 16)), "times_ns": np.zeros(0, np.int64)}, r"H >= 1"),
        ({"positions": np.full((4, 16), np.inf)}, "finite"),
        ({"times_ns": np.array([0, 2, 1, 3], np.int64)}, "strictly increasing"),
        ({"times_ns": np.array([0, 1, 2], np.int64)}, r"shape \(4,\)"),
        ({"times_ns": np.array([0.0, 1.0, 2.0, 3.0])}, "integer"),
        ({"stamp_ns": 5}, "precedes"),
    ],
)
def test_action_chunk_rejects(kw, match):
    base = dict(positions=np.zeros((4, 16)), times_ns=np.arange(4, dtype=np.int64), stamp_ns=0)
    base.update(kw)
    with pytest.raises((ValueError, TypeError), match=match):
        schema.ActionChunk(**base)


def test_joint_table_lists_all_dims():
    table = schema.format_joint_table()
    for name in schema.JOINT_NAMES:
        assert name in table
    assert "motor_cmd[29]" in table
