"""Supervisor state machine: every transition, e-stop from every state without a jump, ramp shapes."""

import logging
import threading
import time

import numpy as np
import pytest

from dit4dit_policy.robot.supervisor import OPERATOR_HOLD_REASON, Inputs, State, Supervisor, SupervisorConfig

DT = 0.004
MEAS = np.r_[np.full(14, 0.3), 0.8, 0.8]
START = np.r_[np.full(14, 0.1), 1.0, 1.0]
REST = np.r_[np.zeros(14), 1.0, 1.0]  # SupervisorConfig.rest_pose default


class Driver:
    """Steps a supervisor with synthetic inputs and feeds back what it commanded."""

    def __init__(self, **cfg):
        cfg.setdefault("start_pose", START.tolist())
        self.sup = Supervisor(SupervisorConfig(**cfg))
        self.t = 100.0
        self.q_meas = MEAS.copy()
        self.state_problem = None
        self.policy = None
        self.chunk_problem = None
        self.fresh = False
        self.sent = []  # (t, state, target, weight)
        self.feedback = True  # report every published decision back as sent (False: nothing got out)

    def tick(self, n=1):
        decision = None
        for _ in range(n):
            self.t += DT
            inputs = Inputs(
                self.t,
                int(self.t * 1e9),
                self.state_problem,
                self.q_meas,
                self.policy,
                self.chunk_problem,
                self.fresh,
            )
            self.fresh = False
            decision = self.sup.step(inputs)
            if decision.publish:
                if self.feedback:
                    self.sup.commanded(decision.target, decision.weight)
                self.sent.append((self.t, self.sup.state, decision.target.copy(), decision.weight))
        return decision

    def until(self, state, max_ticks=10000):
        for _ in range(max_ticks):
            if self.sup.state is state:
                return
            self.tick()
        raise AssertionError(f"never reached {state}, stuck in {self.sup.state}: {self.sup.snapshot()}")

    def to_run(self):
        self.sup.command("start")
        self.until(State.RUN)


def test_idle_publishes_nothing_and_start_goes_to_wait():
    d = Driver()
    assert not d.tick(10).publish and d.sup.state is State.IDLE
    d.state_problem = ("state_stale", "no state")
    d.sup.command("start")
    assert not d.tick().publish and d.sup.state is State.WAIT_STATE
    assert not d.tick(50).publish and d.sup.state is State.WAIT_STATE  # waits for a valid state
    d.sup.command("stop")
    d.tick()
    assert d.sup.state is State.IDLE


def test_ramp_in_commands_measured_pose_and_ramps_weight_over_at_least_2s():
    d = Driver(ramp_in_s=2.0)
    d.sup.command("start")
    d.until(State.MOVE_TO_START)
    ramp = [(t, w, q) for t, s, q, w in d.sent]
    weights = np.array([w for _, w, _ in ramp])
    assert weights[0] <= DT / 2.0 + 1e-9 and np.all(np.diff(weights) >= 0)
    assert np.all(np.diff(weights) <= DT / 2.0 + 1e-9)
    assert ramp[-1][0] - ramp[0][0] >= 2.0 - 2 * DT
    for _, _, q in ramp:
        np.testing.assert_array_equal(q, MEAS)


def test_move_to_start_respects_speed_and_reaches_start():
    d = Driver(move_speed_rad_s=0.5, gripper_move_speed=0.5)
    d.sup.command("start")
    d.until(State.MOVE_TO_START)
    n0 = len(d.sent)
    d.until(State.RUN)
    moves = np.array([q for _, s, q, _ in d.sent[n0 - 1 :]])
    speed = np.abs(np.diff(moves, axis=0)).max(axis=0) / DT
    assert np.all(speed <= 0.5 + 1e-6)
    np.testing.assert_allclose(moves[-1], START)
    assert all(w == 1.0 for *_, w in d.sent[n0:])


def test_run_follows_policy_and_holds_start_pose_without_chunks():
    d = Driver()
    d.to_run()
    decision = d.tick()
    assert decision.source == "hold"
    np.testing.assert_allclose(decision.target, START)
    d.policy = START + 0.05
    decision = d.tick()
    assert decision.source == "policy" and np.allclose(decision.target, START + 0.05)


@pytest.mark.parametrize(
    ("fault", "attr"),
    [
        (("chunk_stale", "newest chunk is 2 s old"), "chunk_problem"),
        (("chunk_invalid", "rejected chunk: NaN"), "chunk_problem"),
        (("state_stale", "rt/lowstate is 80 ms old"), "state_problem"),
        (("state_invalid", "CRC mismatch"), "state_problem"),
    ],
)
def test_faults_in_run_hold_then_ramp_out_after_timeout(fault, attr):
    d = Driver(hold_timeout_s=0.5)
    d.to_run()
    d.policy = START.copy()
    d.tick(5)
    setattr(d, attr, fault)
    last = d.sup.last_command.copy()
    decision = d.tick()
    assert d.sup.state is State.HOLD and decision.source == "hold"
    np.testing.assert_array_equal(decision.target, last)
    tr = d.sup.log[-1]
    assert tr.fault == fault[0] and fault[1] in tr.reason
    d.until(State.RAMP_OUT)
    assert d.t - tr.t_s == pytest.approx(0.5, abs=2 * DT)
    assert "hold timeout" in d.sup.log[-1].reason


def test_hold_recovers_with_a_fresh_chunk():
    d = Driver()
    d.to_run()
    d.policy = START.copy()
    d.chunk_problem = ("chunk_stale", "old")
    d.tick()
    assert d.sup.state is State.HOLD
    d.chunk_problem = None
    d.tick(3)
    assert d.sup.state is State.HOLD  # no new chunk yet
    d.fresh = True
    d.tick()
    assert d.sup.state is State.RUN and "recovered from chunk_stale" in d.sup.log[-1].reason


def test_state_fault_during_ramp_in_resumes_ramp_from_current_weight():
    d = Driver()
    d.sup.command("start")
    d.tick(100)
    assert d.sup.state is State.RAMP_IN
    w = d.sup.weight
    d.state_problem = ("state_stale", "rt/lowstate is 60 ms old")
    d.tick(5)
    assert d.sup.state is State.HOLD and d.sup.weight == w  # weight frozen
    d.state_problem = None
    d.tick()
    assert d.sup.state is State.RAMP_IN
    d.tick()
    assert d.sup.weight == pytest.approx(w + DT / 2.0)


def test_state_fault_during_move_replans_move():
    d = Driver()
    d.sup.command("start")
    d.until(State.MOVE_TO_START)
    d.tick(20)
    d.state_problem = ("state_invalid", "mode_machine changed")
    d.tick()
    assert d.sup.state is State.HOLD
    d.state_problem = None
    d.tick()
    assert d.sup.state is State.MOVE_TO_START
    d.until(State.RUN)
    np.testing.assert_allclose(d.sup.last_command, START)


def test_operator_stop_holds_then_ramps_out_to_rest_then_weight_to_zero():
    d = Driver(stop_hold_s=0.2, ramp_out_s=2.0, zero_weight_ticks=5)
    d.to_run()
    d.sup.command("stop")
    d.tick()
    assert d.sup.state is State.HOLD and d.sup.hold_fault == "operator_stop"
    d.until(State.RAMP_OUT)
    n0 = len(d.sent)
    d.until(State.IDLE)
    out = d.sent[n0 - 1 :]
    targets = np.array([q for _, _, q, _ in out])
    weights = np.array([w for *_, w in out])
    rest = np.r_[np.zeros(14), 1.0, 1.0]
    np.testing.assert_allclose(targets[-1], rest)
    speed = np.abs(np.diff(targets, axis=0)).max(axis=0) / DT
    assert np.all(speed <= 0.5 + 1e-6)
    assert np.all(np.diff(weights) <= 1e-12)  # never increases
    down = np.flatnonzero(weights < 1.0)
    assert (out[down[-1]][0] - out[down[0] - 1][0]) == pytest.approx(2.0, abs=2 * DT)
    assert weights[-1] == 0.0
    tail = [d.tick() for _ in range(8)]
    assert [t.publish for t in tail] == [True] * 5 + [False] * 3
    assert all(t.weight == 0.0 for t in tail)


def all_states_driver(state):
    d = Driver(hold_timeout_s=5.0)
    if state is State.IDLE:
        return d
    d.sup.command("start")
    if state is State.WAIT_STATE:
        d.state_problem = ("state_stale", "none yet")
        d.tick()
        return d
    if state is State.RAMP_IN:
        d.tick(50)
        return d
    if state is State.MOVE_TO_START:
        d.until(State.MOVE_TO_START)
        d.tick(10)
        return d
    d.until(State.RUN)
    d.policy = START + 0.02
    d.tick(3)
    if state is State.RUN:
        return d
    d.chunk_problem = ("chunk_stale", "old")
    d.tick()
    if state is State.HOLD:
        return d
    d.sup.command("stop")
    d.until(State.RAMP_OUT)
    d.tick(30)
    return d


@pytest.mark.parametrize("state", [s for s in State if s is not State.ESTOP])
def test_estop_from_every_state_latches_without_a_jump(state):
    d = all_states_driver(state)
    assert d.sup.state is state
    before = None if d.sup.last_command is None else d.sup.last_command.copy()
    published_before = bool(d.sent) and d.sup.weight > 0
    w_before = d.sup.weight
    d.sup.command("estop")
    decision = d.tick()
    assert d.sup.state is State.ESTOP and d.sup.log[-1].reason == "operator e-stop"
    if published_before:
        assert decision.publish
        np.testing.assert_array_equal(decision.target, before)
        assert decision.weight == w_before
    else:
        assert not decision.publish
    d.policy = START + 0.5
    d.sup.command("start")
    for decision in [d.tick() for _ in range(100)]:
        assert d.sup.state is State.ESTOP
        if decision.publish:
            np.testing.assert_array_equal(decision.target, before)
            assert decision.weight == w_before
    d.sup.command("reset")
    d.tick()
    assert d.sup.state is (State.RAMP_OUT if published_before else State.IDLE)
    d.until(State.IDLE)


def test_transitions_are_logged_with_reasons(caplog):
    d = Driver()
    with caplog.at_level(logging.INFO, logger="dit4dit_policy.robot.supervisor"):
        d.to_run()
    snap = d.sup.snapshot()
    assert [(t["from"], t["to"]) for t in snap["transitions"]] == [
        ("idle", "wait_state"),
        ("wait_state", "ramp_in"),
        ("ramp_in", "move_to_start"),
        ("move_to_start", "run"),
    ]
    assert all(t["reason"] for t in snap["transitions"])
    assert "wait_state -> ramp_in" in caplog.text


def test_unknown_command_and_bad_config():
    sup = Supervisor()
    with pytest.raises(ValueError, match="start, stop, estop, reset"):
        sup.command("jump")
    with pytest.raises(ValueError, match="ramp_in_s"):
        SupervisorConfig(ramp_in_s=1.0)
    with pytest.raises(ValueError, match="ramp_out_s"):
        SupervisorConfig(ramp_out_s=5.0)
    with pytest.raises(ValueError, match="move_speed"):
        SupervisorConfig(move_speed_rad_s=1.0)
    with pytest.raises(ValueError, match="rest_pose"):
        SupervisorConfig(rest_pose=[0.0] * 15)
    with pytest.raises(ValueError, match="start_pose is outside"):
        SupervisorConfig(start_pose=[5.0] * 14 + [0.5, 0.5])


class LaggingDriver(Driver):
    """Feeds back the weight as the controller sends it: bounded per tick, lagging the time ramp.

    ``stall_every`` ticks, time jumps by ``stall_s`` (a loop stall): the time-based ramp jumps ahead
    while the sent weight still moves one bounded step (controller: 1/(2 s) per second).
    """

    def __init__(self, stall_every=50, stall_s=0.3, **cfg):
        super().__init__(**cfg)
        self.stall_every, self.stall_s, self.n = stall_every, stall_s, 0

    def tick(self, n=1):
        decision = None
        for _ in range(n):
            self.n += 1
            self.t += DT + (self.stall_s if self.n % self.stall_every == 0 else 0.0)
            inputs = Inputs(self.t, int(self.t * 1e9), None, self.q_meas, self.policy, None, self.fresh)
            decision = self.sup.step(inputs)
            if decision.publish:
                w_prev = self.sup.weight
                weight = min(max(decision.weight, w_prev - DT / 2.0), w_prev + DT / 2.0, 1.0)
                self.sup.commanded(decision.target, max(weight, 0.0))
                self.sent.append((self.t, self.sup.state, decision.target.copy(), self.sup.weight))
        return decision


def test_ramps_wait_for_the_weight_actually_sent_after_stalls():
    d = LaggingDriver(start_pose=None)
    d.sup.command("start")
    d.until(State.RUN)
    # RAMP_IN ended only once the sent weight was 1 (a later hold would otherwise freeze it lower).
    assert d.sup.weight == 1.0
    d.sup.command("stop")
    d.until(State.IDLE, max_ticks=20000)
    # IDLE (after which a new session may command the measured pose) only with the weight really 0.
    ramp_out = [w for _, s, _, w in d.sent if s is State.RAMP_OUT]
    assert ramp_out and d.sup.weight == 0.0
    idle_weights = [w for _, s, _, w in d.sent if s is State.IDLE]
    assert all(w == 0.0 for w in idle_weights)


def transitions_since(d, n):
    return [(tr.source, tr.target) for tr in list(d.sup.log)[n:]]


def assert_smooth_ramp_out_to_rest(d, n_sent, max_weight):
    """From the last command before RAMP_OUT: bounded speed, weight never rises above ``max_weight``
    and never increases, ends at the rest pose with weight 0."""
    out = d.sent[n_sent - 1 :]
    targets = np.array([q for _, _, q, _ in out])
    weights = np.array([w for *_, w in out])
    speed = np.abs(np.diff(targets, axis=0)).max(axis=0) / DT
    assert np.all(speed <= 0.5 + 1e-6)
    assert np.all(weights <= max_weight + 1e-12) and np.all(np.diff(weights) <= 1e-12)
    np.testing.assert_allclose(targets[-1], REST)
    assert weights[-1] == 0.0 and d.sup.weight == 0.0


@pytest.mark.parametrize("state", [State.RAMP_IN, State.MOVE_TO_START])
def test_operator_stop_before_run_holds_then_ramps_out_from_the_held_command(state):
    d = all_states_driver(state)  # stop_hold_s 0.2 s (default)
    assert d.sup.state is state
    w, last = d.sup.weight, d.sup.last_command.copy()
    assert 0.0 < w < 1.0 if state is State.RAMP_IN else w == 1.0
    n_log = len(d.sup.log)
    d.sup.command("stop")
    decision = d.tick()
    assert d.sup.state is State.HOLD and d.sup.hold_fault == "operator_stop"
    assert decision.source == "hold" and decision.weight == w  # weight frozen, no jump
    np.testing.assert_array_equal(decision.target, last)
    hold = d.sup.log[-1]
    d.until(State.RAMP_OUT)
    assert d.t - hold.t_s == pytest.approx(0.2, abs=2 * DT)
    assert d.sup.log[-1].reason == "operator stop"
    assert all(q == pytest.approx(last) and wt == w for _, s, q, wt in d.sent if s is State.HOLD)
    n_sent = len(d.sent)
    d.until(State.IDLE)
    assert_smooth_ramp_out_to_rest(d, n_sent, w)
    # The stop is final: it never resumes the interrupted ramp in or move.
    assert transitions_since(d, n_log) == [
        (state, State.HOLD),
        (State.HOLD, State.RAMP_OUT),
        (State.RAMP_OUT, State.IDLE),
    ]


@pytest.mark.parametrize("state", [State.RAMP_IN, State.MOVE_TO_START])
@pytest.mark.parametrize(
    "fault", [("state_stale", "rt/lowstate is 80 ms old"), ("state_invalid", "CRC mismatch")]
)
def test_state_fault_before_run_that_never_clears_ramps_out_after_hold_timeout(state, fault):
    d = Driver(hold_timeout_s=0.5)
    d.sup.command("start")
    d.until(state)
    d.tick(10)
    w, last = d.sup.weight, d.sup.last_command.copy()
    n_log = len(d.sup.log)
    d.state_problem = fault
    d.tick()
    assert d.sup.state is State.HOLD
    hold = d.sup.log[-1]
    assert hold.fault == fault[0] and fault[1] in hold.reason
    d.until(State.RAMP_OUT)
    assert d.t - hold.t_s == pytest.approx(0.5, abs=2 * DT)
    assert "hold timeout" in d.sup.log[-1].reason and fault[1] in d.sup.log[-1].reason
    assert all(q == pytest.approx(last) and wt == w for _, s, q, wt in d.sent if s is State.HOLD)
    n_sent = len(d.sent)
    d.until(State.IDLE)  # the ramp out does not wait for the state to come back
    assert_smooth_ramp_out_to_rest(d, n_sent, w)
    assert transitions_since(d, n_log) == [
        (state, State.HOLD),
        (State.HOLD, State.RAMP_OUT),
        (State.RAMP_OUT, State.IDLE),
    ]


@pytest.mark.parametrize("held_ticks", [1, 100])
def test_operator_stop_during_a_fault_hold_ramps_out_and_overrides_recovery(held_ticks):
    d = Driver(hold_timeout_s=5.0, stop_hold_s=0.2)
    d.to_run()
    d.policy = START + 0.02
    d.tick(3)
    d.chunk_problem = ("chunk_stale", "old")
    d.tick()
    assert d.sup.state is State.HOLD
    hold = d.sup.log[-1]
    n_log = len(d.sup.log)
    d.tick(held_ticks - 1)
    d.sup.command("stop")
    d.tick()
    # 0.4 s into the hold (> stop_hold_s, counted from the hold's start) the ramp out starts at once.
    expected = State.RAMP_OUT if held_ticks * DT >= 0.2 else State.HOLD
    assert d.sup.state is expected
    if expected is State.HOLD:
        assert d.sup.hold_fault == "operator_stop" and len(d.sup.log) == n_log  # no HOLD -> HOLD
        # The fault clears and a fresh chunk arrives: an operator stop is not undone by recovery.
        d.chunk_problem, d.fresh = None, True
        d.until(State.RAMP_OUT)
        assert d.t - hold.t_s == pytest.approx(0.2, abs=2 * DT)
    assert d.sup.log[-1].reason == "operator stop"
    d.until(State.IDLE)
    assert transitions_since(d, n_log) == [(State.HOLD, State.RAMP_OUT), (State.RAMP_OUT, State.IDLE)]


def test_state_fault_in_run_resumes_run_when_the_state_returns():
    d = Driver(hold_timeout_s=5.0)
    d.to_run()
    d.policy = START + 0.02
    d.tick(3)
    last = d.sup.last_command.copy()
    d.state_problem = ("state_stale", "rt/lowstate is 80 ms old")
    d.tick(10)
    assert d.sup.state is State.HOLD and d.sup.hold_fault == "state_stale"
    assert all(q == pytest.approx(last) for _, s, q, _ in d.sent if s is State.HOLD)
    # Documented: a state fault needs only a fresh, valid state again (no new chunk) to resume RUN,
    # and RUN follows the policy target of this tick right away.
    d.state_problem = None
    decision = d.tick()
    assert d.sup.state is State.RUN and d.sup.hold_fault is None
    assert "recovered from state_stale" in d.sup.log[-1].reason
    assert decision.source == "policy" and np.allclose(decision.target, d.policy)
    # A chunk fault present when the state returns blocks the resume until it clears.
    d.state_problem = ("state_invalid", "CRC mismatch")
    d.tick()
    assert d.sup.state is State.HOLD
    d.state_problem, d.chunk_problem = None, ("chunk_stale", "old")
    d.tick(5)
    assert d.sup.state is State.HOLD and d.sup.hold_fault == "state_invalid"
    d.chunk_problem = None
    d.tick()
    assert d.sup.state is State.RUN and "recovered from state_invalid" in d.sup.log[-1].reason


def test_ramp_out_with_nothing_ever_commanded_ends_in_idle_without_commanding():
    # Nothing published ever got out (commanded() never called) and the measured state is lost.
    d = Driver(hold_timeout_s=0.5)
    d.feedback = False
    d.sup.command("start")
    d.tick()
    assert d.sup.state is State.RAMP_IN and d.sup.last_command is None
    d.q_meas, d.state_problem = None, ("state_stale", "no measured state")
    decision = d.tick()
    assert d.sup.state is State.HOLD and not decision.publish  # nothing known to hold
    n_log = len(d.sup.log)
    d.until(State.IDLE)
    assert transitions_since(d, n_log) == [(State.HOLD, State.RAMP_OUT), (State.RAMP_OUT, State.IDLE)]
    ramp_out, idle = list(d.sup.log)[-2:]
    assert "hold timeout" in ramp_out.reason and idle.reason == "nothing to ramp out"
    assert idle.t_s == ramp_out.t_s  # within the same tick
    assert all(w == 0.0 for *_, w in d.sent)
    assert not any(d.tick().publish for _ in range(30))  # no weight-0 tail: nothing to hand back


def test_transition_numbers_keep_counting_past_the_bounded_log():
    d = Driver()
    d.state_problem = ("state_stale", "no state")  # WAIT_STATE waits: a start/stop cycle is 2 transitions
    for _ in range(150):
        d.sup.command("start")
        d.tick()
        d.sup.command("stop")
        d.tick()
    assert d.sup.transition_count == 300
    snap = d.sup.snapshot()
    assert snap["transition_count"] == 300 and len(snap["transitions"]) == d.sup.config.log_size == 200
    assert [t["seq"] for t in snap["transitions"]] == list(range(101, 301))
    assert (snap["transitions"][-1]["from"], snap["transitions"][-1]["to"]) == ("wait_state", "idle")


# -- operator_stop_holds: an operator stop holds until a second stop / reset (real-robot evaluation) --


def operator_hold_driver(state=State.RUN, **cfg):
    """A driver with ``operator_stop_holds`` in ``state``, then stopped: in the operator-stop hold."""
    cfg = {"operator_stop_holds": True, "hold_timeout_s": 0.5, "stop_hold_s": 0.2, "ramp_out_s": 2.0, **cfg}
    d = Driver(**cfg)
    d.sup.command("start")
    if state is State.RAMP_IN:
        d.tick(50)
    elif state is State.MOVE_TO_START:
        d.until(State.MOVE_TO_START)
        d.tick(10)
    else:
        d.until(State.RUN)
        d.policy = START + 0.02
        d.tick(3)
    assert d.sup.state is state
    d.held = (d.sup.last_command.copy(), d.sup.weight)
    d.n_log = len(d.sup.log)
    d.sup.command("stop")
    decision = d.tick()
    assert d.sup.state is State.HOLD and d.sup.hold_fault == "operator_stop" and d.sup.in_operator_hold()
    assert decision.source == "hold" and decision.weight == d.held[1]
    np.testing.assert_array_equal(decision.target, d.held[0])
    return d


def assert_held(d, since, end=None):
    """Every command in ``d.sent[since:end]`` is the held one (target and weight) in HOLD."""
    last, w = d.held
    held = d.sent[since:end]
    assert held and all(s is State.HOLD for _, s, _, _ in held)
    assert all(np.array_equal(q, last) and wt == w for _, _, q, wt in held)


@pytest.mark.parametrize("state", [State.RUN, State.RAMP_IN, State.MOVE_TO_START])
def test_operator_stop_holds_until_a_second_stop_then_ramps_out_normally(state, caplog):
    with caplog.at_level(logging.INFO, logger="dit4dit_policy.robot.supervisor"):
        d = operator_hold_driver(state)
    hold = d.sup.log[-1]
    assert (hold.source, hold.target, hold.fault) == (state, State.HOLD, "operator_stop")
    assert "holding until stop/reset (operator_stop_holds)" in hold.reason
    assert "holding until stop/reset (operator_stop_holds)" in caplog.text
    assert d.sup.snapshot()["operator_hold"] is True
    n_sent = len(d.sent)
    # 10 s: far beyond stop_hold_s (0.2 s) and hold_timeout_s (0.5 s). Chunk faults and fresh chunks
    # do not matter while stopped (no resume, no timeout).
    d.tick(1000)
    d.chunk_problem = ("chunk_stale", "trajectory ended 3 s ago")
    d.tick(1000)
    d.chunk_problem, d.fresh, d.policy = None, True, START + 0.1
    d.tick(500)
    assert d.sup.state is State.HOLD and d.t - hold.t_s > 9.9
    assert_held(d, n_sent - 1)
    # The second stop ramps out, exactly like any ramp out: rest pose at <= move speed, then the
    # weight down over ramp_out_s, never rising.
    d.sup.command("stop")
    d.tick()
    assert d.sup.state is State.RAMP_OUT and d.sup.log[-1].reason == "second operator stop: ramping out"
    assert d.sup.snapshot()["operator_hold"] is False
    n_sent = len(d.sent)
    d.until(State.IDLE)
    assert_smooth_ramp_out_to_rest(d, n_sent, d.held[1])
    weights = np.array([w for *_, w in d.sent[n_sent - 1 :]])
    down = np.flatnonzero(weights < d.held[1])
    ramp_s = d.sent[n_sent - 1 + down[-1]][0] - d.sent[n_sent - 1 + down[0] - 1][0]
    assert ramp_s == pytest.approx(2.0 * d.held[1], abs=2 * DT)
    assert transitions_since(d, d.n_log) == [
        (state, State.HOLD),
        (State.HOLD, State.RAMP_OUT),
        (State.RAMP_OUT, State.IDLE),
    ]


def test_reset_ends_the_operator_stop_hold_with_a_ramp_out():
    d = operator_hold_driver()
    d.tick(1000)
    d.sup.command("reset")
    d.tick()
    assert d.sup.state is State.RAMP_OUT and "reset" in d.sup.log[-1].reason
    n_sent = len(d.sent)
    d.until(State.IDLE)
    assert_smooth_ramp_out_to_rest(d, n_sent, 1.0)


def test_estop_during_the_operator_stop_hold_latches_and_reset_ramps_out():
    d = operator_hold_driver()
    d.tick(200)
    d.sup.command("estop")
    decision = d.tick()
    assert d.sup.state is State.ESTOP and d.sup.log[-1].reason == "operator e-stop"
    np.testing.assert_array_equal(decision.target, d.held[0])
    assert decision.weight == 1.0
    d.sup.command("stop")  # a stop does not leave the e-stop
    d.tick(100)
    assert d.sup.state is State.ESTOP
    d.sup.command("reset")
    d.tick()
    assert d.sup.state is State.RAMP_OUT and d.sup.log[-1].reason == "reset after e-stop: ramping out"
    d.until(State.IDLE)


@pytest.mark.parametrize(
    "fault",
    [("state_stale", "rt/lowstate is 80 ms old"), ("state_invalid", "mode_machine changed 5 -> 6")],
)
def test_state_fault_during_the_operator_stop_hold_ramps_out_after_hold_timeout_from_its_onset(fault):
    d = operator_hold_driver(hold_timeout_s=0.5)
    d.tick(750)  # 3 s of holding first: the timeout counts from the fault, not from the stop
    # A fault that clears within hold_timeout_s does not end the hold.
    d.state_problem = fault
    d.tick(100)  # 0.4 s
    assert d.sup.state is State.HOLD and fault[1] in d.sup.hold_reason
    d.state_problem = None
    d.tick(500)
    assert d.sup.state is State.HOLD and d.sup.hold_reason == OPERATOR_HOLD_REASON
    # One that lasts: RAMP_OUT hold_timeout_s after its onset, like a fault hold.
    d.state_problem = fault
    d.tick()
    onset, n_onset = d.t, len(d.sent)
    d.until(State.RAMP_OUT)
    assert d.t - onset == pytest.approx(0.5, abs=2 * DT)
    ramp = d.sup.log[-1]
    assert ramp.fault == fault[0] and "hold timeout (0.5 s)" in ramp.reason and fault[1] in ramp.reason
    assert_held(d, n_onset - 1, -1)  # held unchanged up to the ramp out
    n_sent = len(d.sent)
    d.until(State.IDLE)  # the ramp out does not wait for the state to come back
    assert_smooth_ramp_out_to_rest(d, n_sent, 1.0)


def test_no_measured_state_during_the_operator_stop_hold_is_a_state_fault():
    d = operator_hold_driver(hold_timeout_s=0.5)
    d.q_meas = None
    d.tick()
    onset = d.t
    d.until(State.RAMP_OUT)
    assert d.t - onset == pytest.approx(0.5, abs=2 * DT)
    assert d.sup.log[-1].fault == "state_stale" and "no measured state" in d.sup.log[-1].reason


def test_stop_during_a_chunk_fault_hold_becomes_the_operator_stop_hold():
    d = Driver(operator_stop_holds=True, hold_timeout_s=0.5)
    d.to_run()
    d.policy = START + 0.02
    d.tick(3)
    d.chunk_problem = ("chunk_stale", "old")
    d.tick()
    assert d.sup.state is State.HOLD and d.sup.hold_fault == "chunk_stale"
    n_log = len(d.sup.log)
    d.tick(50)
    d.sup.command("stop")
    d.tick()
    assert d.sup.state is State.HOLD and d.sup.in_operator_hold() and len(d.sup.log) == n_log
    assert "chunk_stale" in d.sup.hold_reason
    d.chunk_problem, d.fresh = None, True  # recovery does not undo the stop
    d.tick(1000)
    assert d.sup.state is State.HOLD
    d.sup.command("stop")
    d.tick()
    assert d.sup.state is State.RAMP_OUT and d.sup.log[-1].reason == "second operator stop: ramping out"


def test_stop_during_a_state_fault_hold_keeps_the_fault_onset():
    d = Driver(operator_stop_holds=True, hold_timeout_s=0.5)
    d.to_run()
    d.state_problem = ("state_stale", "rt/lowstate is 80 ms old")
    d.tick()
    hold = d.sup.log[-1]
    assert d.sup.state is State.HOLD and hold.fault == "state_stale"
    d.tick(50)  # 0.2 s
    d.sup.command("stop")
    d.tick()
    assert d.sup.in_operator_hold()
    d.until(State.RAMP_OUT)
    assert d.t - hold.t_s == pytest.approx(0.5, abs=2 * DT)  # from the fault's onset, not the stop
    assert d.sup.log[-1].fault == "state_stale" and "hold timeout" in d.sup.log[-1].reason


def test_without_operator_stop_holds_stop_still_ramps_out_after_stop_hold_s():
    d = Driver(stop_hold_s=0.2, hold_timeout_s=0.5)
    assert d.sup.config.operator_stop_holds is False  # the default
    d.to_run()
    d.sup.command("stop")
    d.tick()
    hold = d.sup.log[-1]
    assert d.sup.state is State.HOLD and hold.reason == "operator_stop: operator stop"
    assert not d.sup.in_operator_hold() and d.sup.snapshot()["operator_hold"] is False
    d.sup.command("reset")  # reset outside ESTOP does nothing without the flag
    d.until(State.RAMP_OUT)
    assert d.t - hold.t_s == pytest.approx(0.2, abs=2 * DT) and d.sup.log[-1].reason == "operator stop"


def test_operator_stop_holds_must_be_a_bool():
    with pytest.raises(ValueError, match="operator_stop_holds"):
        SupervisorConfig(operator_stop_holds="yes")
    assert SupervisorConfig(operator_stop_holds=True).operator_stop_holds is True


@pytest.mark.parametrize(
    ("flag", "stopped"), [(True, False), (True, True), (False, False)], ids=["run", "holding", "flag-off"]
)
def test_controller_stop_ramps_out_through_the_operator_stop_hold(flag, stopped, monkeypatch):
    """Deactivate / Ctrl-C (``G1Controller.stop(ramp_out=True)``) never waits for an operator: with
    ``operator_stop_holds`` its first ``stop`` only holds, so it sends the second."""
    from dit4dit_policy.robot.controller import ControllerConfig, G1Controller

    d = Driver(operator_stop_holds=flag, ramp_out_s=2.0)
    d.to_run()
    if stopped:
        d.sup.command("stop")
        d.tick(100)
        assert d.sup.in_operator_hold()
    controller = G1Controller(ControllerConfig(supervisor=d.sup.config))
    controller.supervisor = d.sup

    def loop():  # the controller's loop thread, in simulated time: its commands, then a tick
        while not controller.loop.stopping:
            while controller._commands:
                d.sup.command(controller._commands.popleft())
            d.tick()
            time.sleep(0.0002)

    controller._thread = threading.Thread(target=loop, daemon=True)
    controller._thread.start()
    assert controller.stop(ramp_out=True, timeout_s=120.0)
    assert d.sup.state is State.IDLE and d.sup.weight == 0.0
    reasons = [tr.reason for tr in d.sup.log]
    assert ("second operator stop: ramping out" in reasons) is flag
