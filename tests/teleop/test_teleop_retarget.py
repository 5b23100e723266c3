"""Retargeting: frame conventions, press-to-align, deadman/hold, clutching, grippers, IK limits."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dit4dit_policy import schema
from dit4dit_policy.sim import description as desc
from dit4dit_policy.teleop.filters import OneEuroFilter, QuaternionOneEuroFilter
from dit4dit_policy.teleop.frames import R_ROBOT_FROM_XR, alignment_from_head, head_heading
from dit4dit_policy.teleop.ik import IkConfig, TeleopIK
from dit4dit_policy.teleop.protocol import HandInput, Pose, XrFrame, matrix_to_quat, quat_to_matrix
from dit4dit_policy.teleop.retarget import RetargetConfig, Retargeter

DT = 1.0 / 60.0
IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])
SEED = np.concatenate([desc.DEFAULT_ARM_POSE, [1.0, 1.0]])


def yaw_quat(angle):
    """XR rotation about +y (up) by angle [rad]: the operator turns left for angle > 0."""
    return np.array([0.0, math.sin(angle / 2), 0.0, math.cos(angle / 2)])


class Operator:
    """Builds pose messages with monotonically increasing receive stamps."""

    def __init__(self, head_yaw=0.0):
        self.seq = 0
        self.t_ns = 1_000_000_000
        self.head = Pose(np.array([0.0, 1.6, 0.0]), yaw_quat(head_yaw))

    def frame(self, right=None, left=None, mode="controller", align=False):
        self.seq += 1
        self.t_ns += round(DT * 1e9)
        return XrFrame(
            seq=self.seq,
            t_client_ms=0.0,
            mode=mode,
            head=self.head,
            left=left or HandInput(),
            right=right or HandInput(),
            align=align,
            received_ns=self.t_ns,
        )


def controller(position, squeeze=1.0, trigger=0.0, quat=IDENTITY, primary=False):
    return HandInput(
        pose=Pose(np.asarray(position, float), np.asarray(quat, float)),
        squeeze=squeeze,
        trigger=trigger,
        primary=primary,
    )


@pytest.fixture(scope="module")
def ik():
    return TeleopIK()


@pytest.fixture
def retargeter(ik):
    r = Retargeter(RetargetConfig(), ik=ik)
    r.seed(SEED)
    return r


def run(retargeter, op, hands, ticks=1, mode="controller"):
    result = None
    for _ in range(ticks):
        result = retargeter.update(op.frame(**hands, mode=mode), op.t_ns, DT)
    return result


def test_axis_convention():
    assert np.allclose(R_ROBOT_FROM_XR @ [0, 0, -1], [1, 0, 0])  # XR forward → robot +x
    assert np.allclose(R_ROBOT_FROM_XR @ [-1, 0, 0], [0, 1, 0])  # XR left → robot +y
    assert np.allclose(R_ROBOT_FROM_XR @ [0, 1, 0], [0, 0, 1])  # XR up → robot +z
    assert np.linalg.det(R_ROBOT_FROM_XR) == pytest.approx(1.0)


@settings(max_examples=50, deadline=None)
@given(yaw=st.floats(-math.pi, math.pi), pitch=st.floats(-0.8, 0.8))
def test_alignment_maps_the_operators_forward_to_robot_x(yaw, pitch):
    q_yaw = yaw_quat(yaw)
    q_pitch = np.array([math.sin(pitch / 2), 0.0, 0.0, math.cos(pitch / 2)])  # nod about XR x
    head_rot = quat_to_matrix(q_yaw) @ quat_to_matrix(q_pitch)
    head = Pose(np.zeros(3), matrix_to_quat(head_rot))
    assert head_heading(head) == pytest.approx(yaw, abs=1e-6) or abs(abs(yaw) - math.pi) < 1e-6
    alignment = alignment_from_head(head)
    forward_xr = quat_to_matrix(q_yaw) @ np.array([0.0, 0.0, -1.0])  # the operator's horizontal forward
    assert np.allclose(alignment @ forward_xr, [1.0, 0.0, 0.0], atol=1e-9)
    assert np.allclose(alignment @ [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], atol=1e-9)


def test_quaternion_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        q = -q if q[3] < 0 else q
        assert np.allclose(matrix_to_quat(quat_to_matrix(q)), q, atol=1e-9)


def test_no_deadman_no_motion(retargeter):
    op = Operator()
    result = run(retargeter, op, {"right": controller([0.2, 1.1, -0.3], squeeze=0.2)}, ticks=10)
    assert not result.any_engaged and np.array_equal(result.target, SEED)
    assert result.calibrated  # the first head pose aligned automatically


@pytest.mark.parametrize("head_yaw", [0.0, 0.7, -2.0])
def test_hand_motion_moves_the_tcp_in_the_operators_frame(retargeter, ik, head_yaw):
    op = Operator(head_yaw)
    start = np.array([0.2, 1.1, -0.3])
    tcp0 = ik.tcp_poses(SEED[:14])[1][0]
    run(retargeter, op, {"right": controller(start)})
    # the operator moves the hand 8 cm "forward" (their facing direction) and 5 cm up
    forward = quat_to_matrix(yaw_quat(head_yaw)) @ np.array([0.0, 0.0, -1.0])
    result = run(retargeter, op, {"right": controller(start + 0.08 * forward + [0, 0.05, 0])}, ticks=150)
    assert result.engaged == (False, True)
    target = result.tcp_targets[1][0]
    assert np.allclose(target - tcp0, [0.08, 0.0, 0.05], atol=2e-3)
    reached = ik.tcp_poses(result.target[:14])[1][0]
    assert np.linalg.norm(reached - target) < 0.005
    assert np.array_equal(result.target[:7], SEED[:7])  # the idle left arm did not move


def test_release_holds_and_reengaging_does_not_jump(retargeter):
    op = Operator()
    run(retargeter, op, {"right": controller([0.2, 1.1, -0.3])})
    moved = run(retargeter, op, {"right": controller([0.2, 1.15, -0.35])}, ticks=120)
    held = run(retargeter, op, {"right": controller([0.5, 0.8, 0.2], squeeze=0.0)}, ticks=30)
    assert not held.any_engaged and np.array_equal(held.target, moved.target)
    # grab again somewhere else: the anchor is re-taken, nothing jumps
    again = run(retargeter, op, {"right": controller([-0.3, 1.4, 0.1])})
    assert again.engaged[1]
    assert np.max(np.abs(again.target - moved.target)) < 1e-3


def test_stale_poses_release_the_arms(retargeter):
    op = Operator()
    result = run(retargeter, op, {"right": controller([0.2, 1.1, -0.3])})
    assert result.engaged[1]
    frame = op.frame(right=controller([0.2, 1.2, -0.3]))
    later = frame.received_ns + round(0.3e9)  # > pose_timeout_s (0.25 s) after the newest pose
    result = retargeter.update(frame, later, DT)
    assert not result.any_engaged and result.frame is None


def test_stop_requires_a_new_press(retargeter):
    op = Operator()
    run(retargeter, op, {"right": controller([0.2, 1.1, -0.3])})
    retargeter.release_all(require_repress=True)
    # no pose messages for a while (stale) does not count as letting go
    assert not retargeter.update(None, op.t_ns + 10**9, DT).any_engaged
    still_held = run(retargeter, op, {"right": controller([0.2, 1.1, -0.3])}, ticks=5)
    assert not still_held.any_engaged
    run(retargeter, op, {"right": controller([0.2, 1.1, -0.3], squeeze=0.0)})
    assert run(retargeter, op, {"right": controller([0.2, 1.1, -0.3])}).engaged[1]


def test_align_while_engaged_does_not_jump(retargeter):
    op = Operator()
    run(retargeter, op, {"right": controller([0.2, 1.1, -0.3])}, ticks=5)
    before = run(retargeter, op, {"right": controller([0.2, 1.1, -0.3])}, ticks=30)
    op.head = Pose(np.array([0.0, 1.6, 0.0]), yaw_quat(1.0))
    after = retargeter.update(op.frame(right=controller([0.2, 1.1, -0.3]), align=True), op.t_ns, DT)
    assert after.aligned_now and np.max(np.abs(after.target - before.target)) < 1e-3


def test_trigger_closes_the_gripper_at_the_rate_limit(retargeter):
    op = Operator()
    first = run(retargeter, op, {"right": controller([0.2, 1.1, -0.3], trigger=1.0)})
    step = schema.GRIPPER_LIMIT.velocity * DT
    assert first.target[schema.RIGHT_GRIPPER_INDEX] == pytest.approx(1.0 - step)
    closed = run(retargeter, op, {"right": controller([0.2, 1.1, -0.3], trigger=1.0)}, ticks=30)
    assert closed.target[schema.RIGHT_GRIPPER_INDEX] == 0.0
    assert closed.target[schema.LEFT_GRIPPER_INDEX] == 1.0  # the other gripper holds


def test_tracked_hands_toggle_with_a_middle_pinch_and_pinch_the_gripper(retargeter):
    op = Operator()

    def hand(middle, index=0.08):
        return HandInput(pose=Pose(np.array([0.2, 1.1, -0.3]), IDENTITY), pinch=index, pinch_middle=middle)

    assert not run(retargeter, op, {"right": hand(0.09)}, mode="hand").any_engaged
    assert run(retargeter, op, {"right": hand(0.01)}, mode="hand").engaged[1]  # pinch: on
    assert run(retargeter, op, {"right": hand(0.01)}, mode="hand").engaged[1]  # held pinch: no re-toggle
    assert run(retargeter, op, {"right": hand(0.09)}, mode="hand").engaged[1]  # released: stays on
    result = run(retargeter, op, {"right": hand(0.09, index=0.015)}, mode="hand", ticks=30)
    assert result.target[schema.RIGHT_GRIPPER_INDEX] == 0.0  # index pinch closed the gripper
    assert not run(retargeter, op, {"right": hand(0.01)}, mode="hand").engaged[1]  # pinch again: off
    # losing tracking releases too
    run(retargeter, op, {"right": hand(0.09)}, mode="hand")
    assert run(retargeter, op, {"right": hand(0.01)}, mode="hand").engaged[1]
    assert not run(retargeter, op, {"right": HandInput()}, mode="hand").any_engaged


def test_targets_out_of_reach_are_clamped_and_joints_stay_in_limits(retargeter):
    op = Operator()
    run(retargeter, op, {"right": controller([0.2, 1.1, -0.3])})
    result = run(retargeter, op, {"right": controller([0.2, 1.1, -3.0])}, ticks=200)  # 2.7 m forward
    shoulder = retargeter._shoulders[1]
    assert np.linalg.norm(result.tcp_targets[1][0] - shoulder) == pytest.approx(0.6, abs=1e-6)
    assert np.all(result.target >= schema.POSITION_LOWER) and np.all(result.target <= schema.POSITION_UPPER)


def test_ik_keeps_arm_arm_and_arm_body_clearance(ik):
    q = desc.DEFAULT_ARM_POSE.copy()
    poses = ik.tcp_poses(q)
    crossed = [(poses[1][0] + [0.1, 0.0, 0.05], poses[0][1]), (poses[0][0] + [0.1, 0.0, 0.05], poses[1][1])]
    clearances = []
    for _ in range(240):
        q = ik.solve(q, crossed, desc.DEFAULT_ARM_POSE, DT)
        clearances.append(ik.min_clearance(q))
    assert min(clearances) > ik.config.min_clearance_m - 0.002
    into_body = [(np.array([0.02, 0.0, 0.95]), poses[0][1]), None]
    q = desc.DEFAULT_ARM_POSE.copy()
    for _ in range(240):
        q = ik.solve(q, into_body, desc.DEFAULT_ARM_POSE, DT)
        clearances.append(ik.min_clearance(q))
    assert min(clearances) > ik.config.min_clearance_m - 0.002
    # without the clearance limit the same targets do collide: the limit is what keeps them apart
    free = TeleopIK(IkConfig(collision_avoidance=False))
    q = desc.DEFAULT_ARM_POSE.copy()
    for _ in range(240):
        q = free.solve(q, crossed, desc.DEFAULT_ARM_POSE, DT)
    assert free.min_clearance(q) < 0.0


def test_ik_respects_the_speed_bound_and_freezes_idle_arms(ik):
    q = desc.DEFAULT_ARM_POSE.copy()
    far = (ik.tcp_poses(q)[0][0] + [0.3, 0.0, 0.3], ik.tcp_poses(q)[0][1])
    q1 = ik.solve(q, [far, None], desc.DEFAULT_ARM_POSE, DT)
    assert np.max(np.abs(q1 - q)) <= ik.config.max_joint_speed * DT + 1e-9
    assert np.array_equal(q1[7:], q[7:])


def test_one_euro_filter_smooths_rest_and_follows_motion():
    rng = np.random.default_rng(1)
    filt = OneEuroFilter(min_cutoff_hz=1.5, beta=4.0)
    noisy = [np.array([0.0, 0.0, 0.0]) + rng.normal(0, 0.002, 3) for _ in range(300)]
    out = np.array([filt(x, DT) for x in noisy])
    assert np.std(out[100:], axis=0).max() < 0.5 * 0.002
    filt.reset()
    ramp = [np.array([0.5 * i * DT, 0.0, 0.0]) for i in range(120)]  # 0.5 m/s
    out = np.array([filt(x, DT) for x in ramp])
    assert abs(out[-1, 0] - ramp[-1][0]) < 0.02  # < 2 cm lag at 0.5 m/s
    qf = QuaternionOneEuroFilter()
    for angle in np.linspace(0, 1, 50):
        q = qf(yaw_quat(angle), DT)
        assert np.linalg.norm(q) == pytest.approx(1.0)
