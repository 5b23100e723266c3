"""End to end in the simulator: a scripted WebSocket client streams a pose trajectory → the HTTPS/WSS
server → retargeting (calibration, clutch, IK) → the MuJoCo G1 (env.step at 30 Hz, PD law) →
the simulated grasp centres reach the operator's targets within 1 cm in the reachable workspace.
"""

import asyncio
import math
import threading
import time

import numpy as np
import pytest

from dit4dit_policy.sim.env import G1TabletopEnv
from dit4dit_policy.teleop.client import stream_frames
from dit4dit_policy.teleop.frames import alignment_from_head
from dit4dit_policy.teleop.protocol import HandInput, Pose, XrFrame
from dit4dit_policy.teleop.retarget import Retargeter
from dit4dit_policy.teleop.session import TeleopSession

RATE_HZ = 60
HEAD_YAW = 0.5  # the operator stands turned 29° from where the headset session started
IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])
#: Hand waypoints relative to the start, in the operator's own frame (x forward, y left, z up) [m].
WAYPOINTS = [
    (0.10, 0.00, 0.00),
    (0.10, 0.08, 0.06),
    (0.00, -0.08, 0.08),
    (-0.06, 0.00, -0.08),
    (0.12, -0.06, -0.05),
    (0.00, 0.00, 0.00),
]
MOVE_S, HOLD_S, SETTLE_S = 0.8, 1.2, 0.6


def _yaw_quat(angle):
    return np.array([0.0, math.sin(angle / 2), 0.0, math.cos(angle / 2)])


def _trajectory():
    """XR frames at RATE_HZ and, per frame, the index of the waypoint being held (or -1 while moving)."""
    head = Pose(np.array([0.0, 1.6, 0.0]), _yaw_quat(HEAD_YAW))
    # operator frame → XR: inverse of the calibration the server will compute from this head pose
    to_xr = alignment_from_head(head).T
    starts = [np.array([-0.2, 1.1, -0.35]), np.array([0.2, 1.1, -0.35])]
    frames, holding, offsets = [], [], []
    previous = np.zeros(3)
    plan = [(np.zeros(3), 0.0, 1.0, -2)]  # engage and stand still first
    for i, w in enumerate(WAYPOINTS):
        plan.append((np.array(w), MOVE_S, HOLD_S, i))
    for target, move_s, hold_s, index in plan:
        for k in range(round(move_s * RATE_HZ)):
            s = (k + 1) / round(move_s * RATE_HZ)
            offsets.append(previous + (target - previous) * (3 * s * s - 2 * s * s * s))
            holding.append(-1)
        for _ in range(round(hold_s * RATE_HZ)):
            offsets.append(target)
            holding.append(index)
        previous = target
    for seq, offset in enumerate(offsets):
        hands = [
            HandInput(
                pose=Pose(start + to_xr @ (offset * [1, -1 if side == 0 else 1, 1]), IDENTITY), squeeze=1.0
            )
            for side, start in enumerate(starts)
        ]
        frames.append(XrFrame(seq, 0.0, "controller", head, hands[0], hands[1]))
    return frames, holding


@pytest.mark.slow
def test_simulated_arms_follow_a_streamed_pose_trajectory(teleop_server, teleop_cert):
    env = G1TabletopEnv("close_drawer", render_mode=None)
    obs, _ = env.reset(seed=0)
    session = TeleopSession(teleop_server, Retargeter())
    frames, holding = _trajectory()
    log = []  # (frame seq, side → (target position, simulated TCP position))
    stop = threading.Event()
    anchors = {}

    def sim_loop():
        nonlocal obs
        period = 1.0 / 30.0
        next_tick = time.monotonic()
        while not stop.is_set():
            next_tick += period
            result = session.tick(period, obs["state"])
            obs, *_ = env.step(result.target)
            session.applied(result)
            if result.frame is not None and result.any_engaged:
                for side in (0, 1):
                    if side not in anchors:
                        anchors[side] = env.scene.tcp_pos(side)
                log.append(
                    (result.frame.seq, [(result.tcp_targets[s][0], env.scene.tcp_pos(s)) for s in (0, 1)])
                )
            time.sleep(max(0.0, next_tick - time.monotonic()))

    thread = threading.Thread(target=sim_loop, daemon=True)
    thread.start()
    try:
        report = asyncio.run(
            stream_frames(teleop_server.url, frames, rate_hz=RATE_HZ, cafile=teleop_cert.cert)
        )
    finally:
        stop.set()
        thread.join(10)
    env.close()
    assert report.sent == len(frames) and not report.errors
    assert report.acked > 0.3 * len(frames)  # the page-side loop latency was measured throughout
    assert session.engaged_ticks > 0 and log

    p50, p95 = report.latency_percentile(50), report.latency_percentile(95)
    print(f"\nloop latency p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    for index, waypoint in enumerate(WAYPOINTS):
        seqs = [s for s, h in enumerate(holding) if h == index]
        settled = [entry for entry in log if seqs[0] + SETTLE_S * RATE_HZ <= entry[0] <= seqs[-1]]
        assert settled, f"waypoint {index}: the sim loop saw no settled frame"
        for side in (0, 1):
            errors = [np.linalg.norm(t[side][0] - t[side][1]) for _, t in settled]
            # the commanded target is where the operator's hand went: anchor + displacement
            expected = anchors[side] + np.array(waypoint) * [1, -1 if side == 0 else 1, 1]
            target_error = np.linalg.norm(settled[-1][1][side][0] - expected)
            print(
                f"waypoint {index} arm {side}: TCP error max {1e3 * max(errors):.1f} mm, "
                f"target vs operator {1e3 * target_error:.1f} mm"
            )
            assert max(errors) < 0.01, f"waypoint {index}, arm {side}: TCP error {max(errors):.4f} m"
            assert target_error < 0.01
