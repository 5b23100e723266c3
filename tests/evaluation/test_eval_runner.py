"""Protocol runner logic: plan order and seeds, resume, voided attempts, limits, failures.

These tests drive the runner with a small deterministic environment defined here (the protocol
itself is under test, not a simulator); the MuJoCo environment is exercised in
test_eval_sim_protocol.py, test_eval_crash_resume.py and test_terminal_protocol.py.
"""

import dataclasses

import numpy as np
import pytest

from dit4dit_policy.errors import ResultsError
from dit4dit_policy.evaluation.config import (
    EvalConfig,
    ProtocolConfig,
    RecordingConfig,
    TaskSpec,
    config_hash,
)
from dit4dit_policy.evaluation.interface import (
    AutomaticOperator,
    EndReason,
    Mark,
    OperatorEvent,
    Outcome,
    Phase,
    RecordedFrame,
    RolloutStatus,
)
from dit4dit_policy.evaluation.plan import build_plan
from dit4dit_policy.evaluation.results import read_results
from dit4dit_policy.evaluation.runner import run_protocol


class CountingEnvironment:
    """Ends each rollout after a seed-dependent number of polls: success for even seeds.

    Every poll advances 0.1 s and yields one 8×8 frame; ``fail_at`` makes ``poll`` raise on the
    given (task, seed) to imitate a crashing robot link.
    """

    def __init__(self, polls=3, fail_at=None, own_instruction=None, record=True):
        self.polls = polls
        self.fail_at = fail_at
        self.own_instruction = own_instruction
        self.record = record
        self.calls = []
        self._n = 0
        self._key = None

    def reset(self, task, seed):
        self.calls.append(("reset", task, seed))
        self._key = (task, seed)
        return self.own_instruction

    def start(self, instruction):
        self.calls.append(("start", instruction))
        self._n = 0

    def poll(self):
        if self._key == self.fail_at and self._n == 1:
            raise ConnectionError("robot link lost")
        self._n += 1
        t = 0.1 * self._n
        frames = []
        if self.record:
            state = np.full(16, 0.01 * self._n)
            frames = [RecordedFrame(np.full((8, 8, 3), self._n, np.uint8), state, state + 0.1, t, 0, 12.0)]
        if self._n < self.polls:
            return RolloutStatus(Phase.RUNNING, t, frames, [12.0] if self._n == 1 else [])
        phase = Phase.SUCCESS if self._key[1] % 2 == 0 else Phase.FAILURE
        return RolloutStatus(phase, t, frames, [], "predicate", {"distance_m": 0.01 * self._key[1]})

    def stop(self):
        self.calls.append(("stop",))

    def home(self):
        self.calls.append(("home",))

    def estop(self):
        self.calls.append(("estop",))

    def close(self):
        pass


class ListOperator(AutomaticOperator):
    """Judges with the next mark from a list (an operator who voids some attempts)."""

    interactive = True

    def __init__(self, marks):
        super().__init__()
        self.marks = list(marks)

    def judge(self, label, status, end_reason):
        return self.marks.pop(0)


def _config(tasks=("a", "b"), n=3, order="blocked", record=True):
    specs = [TaskSpec(t, instruction=f"do {t}", time_limit_s=5.0) for t in tasks]
    return EvalConfig(
        protocol=ProtocolConfig(tasks=specs, rollouts_per_task=n, seed=10, order=order, poll_period_s=0),
        recording=RecordingConfig(enabled=record),
    )


def test_plan_orders_cover_every_rollout_once_with_seed_per_rollout():
    plans = {
        order: build_plan(_config(order=order).protocol) for order in ("blocked", "interleaved", "shuffled")
    }
    for plan in plans.values():
        assert sorted(s.key for s in plan) == [(t, k) for t in "ab" for k in range(3)]
        assert all(s.seed == 10 + s.rollout for s in plan)
        assert [s.position for s in plan] == list(range(6))
    assert [s.key for s in plans["blocked"]][:3] == [("a", 0), ("a", 1), ("a", 2)]
    assert [s.key for s in plans["interleaved"]][:3] == [("a", 0), ("b", 0), ("a", 1)]
    again = build_plan(_config(order="shuffled").protocol)
    assert [s.key for s in again] == [s.key for s in plans["shuffled"]]  # deterministic
    other_seed = build_plan(dataclasses.replace(_config(order="shuffled").protocol, seed=11))
    assert [s.key for s in other_seed] != [s.key for s in plans["shuffled"]]


def test_run_records_every_rollout_with_its_verdict_and_recording(tmp_path):
    env = CountingEnvironment()
    summary = run_protocol(_config(), env, tmp_path, mode="test", checkpoint_id="c1")
    assert summary.finished and summary.ran == 6 and not summary.stopped_by_operator
    records = read_results(tmp_path).records
    assert [(r.task, r.rollout, r.seed) for r in records] == [(t, k, 10 + k) for t in "ab" for k in range(3)]
    assert [r.outcome for r in records] == [Outcome.SUCCESS, Outcome.FAILURE, Outcome.SUCCESS] * 2
    assert records[1].end_reason is EndReason.PREDICATE_FAILURE and records[1].metrics == {"distance_m": 0.11}
    assert all(r.duration_s == pytest.approx(0.3) and r.chunk_latencies_ms == [12.0] for r in records)
    assert [r.episode_index for r in records] == list(range(6))
    assert records[0].instruction == "do a" and records[0].judged_by == "predicate"
    # stop then home after each rollout; start always gets the configured instruction.
    assert env.calls[:5] == [("reset", "a", 10), ("start", "do a"), ("stop",), ("home",), ("reset", "a", 11)]
    from dit4dit_policy.data.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset(tmp_path / "recordings")
    assert ds.num_episodes == 6 and ds.episode_task(3) == "do b"
    ep = ds.episode_data(2)
    assert ep["observation.state"].shape == (3, 16) and ep["eval.chunk_latency_ms"].tolist() == [12.0] * 3
    np.testing.assert_allclose(ep["timestamp"], [0.0, 0.1, 0.2], atol=1e-6)


def test_resume_runs_only_the_missing_rollouts(tmp_path):
    first = run_protocol(
        _config(order="shuffled"), CountingEnvironment(), tmp_path, mode="test", checkpoint_id="c1", limit=4
    )
    assert first.ran == 4 and not first.finished and not first.stopped_by_operator
    env = CountingEnvironment()
    second = run_protocol(_config(order="shuffled"), env, tmp_path, mode="test", checkpoint_id="c1")
    assert second.ran == 2 and second.finished
    records = read_results(tmp_path).records
    assert len({r.key for r in records}) == 6 == len(records)
    plan = build_plan(_config(order="shuffled").protocol)
    assert [r.key for r in records] == [s.key for s in plan]  # resumed at the first missing, in order
    assert len([c for c in env.calls if c[0] == "reset"]) == 2
    assert len(read_results(tmp_path).sessions) == 2


def test_extending_the_rollout_count_resumes_but_another_task_list_does_not(tmp_path):
    run_protocol(_config(n=2), CountingEnvironment(), tmp_path, mode="test", checkpoint_id="c1")
    summary = run_protocol(_config(n=3), CountingEnvironment(), tmp_path, mode="test", checkpoint_id="c1")
    assert summary.ran == 2 and summary.finished
    with pytest.raises(ResultsError, match="tasks"):
        run_protocol(_config(tasks=("a",)), CountingEnvironment(), tmp_path, mode="test", checkpoint_id="c1")
    with pytest.raises(ResultsError, match="checkpoint_id"):
        run_protocol(_config(n=3), CountingEnvironment(), tmp_path, mode="test", checkpoint_id="c2")


def test_config_hash_ignores_what_may_change_on_resume():
    base = _config()
    changed = dataclasses.replace(base, protocol=dataclasses.replace(base.protocol, rollouts_per_task=30))
    changed = dataclasses.replace(changed, recording=RecordingConfig(enabled=False, video_codec="av1"))
    assert config_hash(base) == config_hash(changed)
    other_seed = dataclasses.replace(base, protocol=dataclasses.replace(base.protocol, seed=1))
    assert config_hash(other_seed) != config_hash(base)
    assert config_hash(base, {"policy": "x"}) != config_hash(base, {"policy": "y"})


def test_voided_attempts_are_kept_and_the_rollout_runs_again(tmp_path):
    marks = [Mark(Outcome.VOID, "scene wrong"), Mark(Outcome.PARTIAL, "half"), Mark(Outcome.SUCCESS)]
    env = CountingEnvironment()
    summary = run_protocol(
        _config(tasks=("a",), n=2),
        env,
        tmp_path,
        mode="test",
        checkpoint_id="c1",
        operator=ListOperator(marks),
    )
    assert summary.finished and summary.ran == 3
    records = read_results(tmp_path).records
    assert [(r.rollout, r.attempt, r.outcome, r.note) for r in records] == [
        (0, 0, Outcome.VOID, "scene wrong"),
        (0, 1, Outcome.PARTIAL, "half"),
        (1, 0, Outcome.SUCCESS, ""),
    ]
    assert all(r.judged_by == "operator" for r in records)
    assert [c[2] for c in env.calls if c[0] == "reset"] == [10, 10, 11]  # same seed for the re-run


def test_environment_failure_propagates_and_keeps_finished_results(tmp_path):
    env = CountingEnvironment(fail_at=("a", 12))
    with pytest.raises(ConnectionError, match="robot link lost"):
        run_protocol(_config(), env, tmp_path, mode="test", checkpoint_id="c1")
    assert env.calls[-1] == ("stop",)  # the policy was stopped
    assert [r.key for r in read_results(tmp_path).records] == [("a", 0), ("a", 1)]
    summary = run_protocol(_config(), CountingEnvironment(), tmp_path, mode="test", checkpoint_id="c1")
    assert summary.ran == 4 and summary.finished
    results = read_results(tmp_path)
    assert len(results.records) == 6 and [r.episode_index for r in results.records] == list(range(6))


def test_time_limit_and_operator_stop(tmp_path):
    class StopOperator(AutomaticOperator):
        def __init__(self):
            super().__init__()
            self.polls = 0

        def poll_event(self):
            self.polls += 1
            return OperatorEvent.STOP if self.polls == 2 else None

    config = _config(tasks=("a",), n=1, record=False)
    config.protocol.tasks[0].time_limit_s = 0.2
    run_protocol(config, CountingEnvironment(polls=100), tmp_path / "limit", mode="test", checkpoint_id="c")
    rec = read_results(tmp_path / "limit").records[0]
    assert rec.end_reason is EndReason.TIME_LIMIT and rec.outcome is Outcome.FAILURE
    assert rec.duration_s == pytest.approx(0.2) and rec.episode_index is None
    config.protocol.tasks[0].time_limit_s = 5.0
    run_protocol(
        config,
        CountingEnvironment(polls=100),
        tmp_path / "stop",
        mode="test",
        checkpoint_id="c",
        operator=StopOperator(),
    )
    rec = read_results(tmp_path / "stop").records[0]
    assert rec.end_reason is EndReason.OPERATOR_STOP and rec.duration_s == pytest.approx(0.2)


def test_instruction_comes_from_config_else_from_the_environment(tmp_path):
    config = _config(tasks=("a",), n=1, record=False)
    config.protocol.tasks[0].instruction = None
    env = CountingEnvironment(own_instruction="put the red cube in the bowl")
    run_protocol(config, env, tmp_path / "own", mode="test", checkpoint_id="c")
    assert ("start", "put the red cube in the bowl") in env.calls
    assert read_results(tmp_path / "own").records[0].instruction == "put the red cube in the bowl"
    with pytest.raises(ValueError, match=r"protocol.tasks\[\].instruction"):
        run_protocol(config, CountingEnvironment(), tmp_path / "none", mode="test", checkpoint_id="c")


def test_recording_saved_without_a_result_is_noted_as_orphan(tmp_path):
    from dit4dit_policy.data.lerobot_dataset import LeRobotDatasetWriter

    config = _config(tasks=("a",), n=3)
    run_protocol(config, CountingEnvironment(), tmp_path, mode="test", checkpoint_id="c1", limit=1)
    # A crash after the episode was saved but before its result line: the episode exists, no result.
    writer = LeRobotDatasetWriter.open(tmp_path / "recordings")
    for _ in range(2):
        writer.add_frame(
            {
                "observation.images.ego_view": np.zeros((8, 8, 3), np.uint8),
                "observation.state": np.zeros(16, np.float32),
                "action": np.zeros(16, np.float32),
                "eval.chunk_id": np.int64(0),
                "eval.chunk_latency_ms": np.float32(1.0),
            }
        )
    assert writer.save_episode("do a") == 1
    writer.close()
    run_protocol(config, CountingEnvironment(), tmp_path, mode="test", checkpoint_id="c1")
    results = read_results(tmp_path)
    assert [n["orphan_episodes"] for n in results.notes] == [[1]]
    assert [r.episode_index for r in results.records] == [0, 2, 3]
    # Noted once: resuming a finished run adds no second note.
    run_protocol(config, CountingEnvironment(), tmp_path, mode="test", checkpoint_id="c1")
    assert len(read_results(tmp_path).notes) == 1


def test_a_failed_recording_keeps_the_verdict(tmp_path):
    class ResizingEnvironment(CountingEnvironment):
        """The camera changes resolution in the middle of the first rollout."""

        def poll(self):
            status = super().poll()
            if self._key == ("a", 10) and self._n == 2:
                frame = status.frames[0]
                status.frames = [dataclasses.replace(frame, image=np.zeros((6, 8, 3), np.uint8))]
            return status

    run_protocol(_config(tasks=("a",), n=2), ResizingEnvironment(), tmp_path, mode="test", checkpoint_id="c")
    first, second = read_results(tmp_path).records
    assert first.outcome is Outcome.SUCCESS and first.episode_index is None
    assert "observation.images.ego_view" in first.recording_error
    assert second.episode_index == 0 and second.recording_error is None


class LatchingEnvironment(CountingEnvironment):
    """An environment whose e-stop latches (like the robot controller's) until ``home()`` clears it.

    ``latched`` starts True for an e-stop engaged before the session; ``estop_in_home`` makes the
    first ``home()`` calls e-stop again while they run (the operator's key during homing), leaving
    the e-stop latched.
    """

    def __init__(self, latched=False, estop_in_home=0, operator=None, **kwargs):
        super().__init__(**kwargs)
        self.latched = latched
        self.estop_in_home = estop_in_home
        self.operator = operator

    def estop_latched(self):
        return self.latched

    def estop(self):
        super().estop()
        self.latched = True

    def home(self):
        super().home()
        self.latched = False
        if self.estop_in_home > 0:
            self.estop_in_home -= 1
            self.operator.key_estop()


class RecoveringOperator(ListOperator):
    """Confirms recoveries with the answers given (True: recover, False: quit); e-stop like a key."""

    def __init__(self, marks, answers):
        super().__init__(marks)
        self.answers = list(answers)
        self.asked = 0
        self._estop = False

    def key_estop(self):
        self._environment.estop()
        self._estop = True

    def estopped(self):
        return self._estop

    def clear_estop(self):
        self._estop = False

    def confirm_recovery(self):
        self.asked += 1
        return self.answers.pop(0)


def test_an_estop_latched_before_the_session_needs_the_operators_confirmation(tmp_path):
    config = _config(tasks=("a",), n=1, record=False)
    operator = RecoveringOperator([Mark(Outcome.SUCCESS)], [True])
    env = LatchingEnvironment(latched=True)
    summary = run_protocol(config, env, tmp_path / "go", mode="test", checkpoint_id="c", operator=operator)
    assert summary.finished and operator.asked == 1
    # No rollout starts while it is latched: confirm, home (clears it), set the scene up again.
    assert env.calls[:4] == [("reset", "a", 10), ("home",), ("reset", "a", 10), ("start", "do a")]

    # Declining the recovery ends the session before any rollout.
    operator = RecoveringOperator([], [False])
    env = LatchingEnvironment(latched=True)
    summary = run_protocol(config, env, tmp_path / "no", mode="test", checkpoint_id="c", operator=operator)
    assert summary.ran == 0 and summary.stopped_by_operator and env.calls == [("reset", "a", 10)]


def test_an_estop_while_homing_is_confirmed_again_before_the_next_rollout(tmp_path):
    config = _config(tasks=("a",), n=2, record=False)
    operator = RecoveringOperator([Mark(Outcome.SUCCESS)] * 2, [True])
    env = LatchingEnvironment(estop_in_home=1, operator=operator)
    summary = run_protocol(config, env, tmp_path, mode="test", checkpoint_id="c", operator=operator)
    assert summary.finished and operator.asked == 1
    # The e-stop pressed while the arms went home stays latched until the operator confirmed.
    assert env.calls[:7] == [
        ("reset", "a", 10),
        ("start", "do a"),
        ("stop",),
        ("home",),
        ("estop",),
        ("home",),
        ("reset", "a", 11),
    ]
