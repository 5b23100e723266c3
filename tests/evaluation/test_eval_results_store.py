"""The JSONL results store: durable appends, torn-line repair, fingerprints, locking, no duplicates."""

import json
import math

import pytest

from dit4dit_policy.errors import ResultsError
from dit4dit_policy.evaluation.interface import EndReason, Outcome
from dit4dit_policy.evaluation.results import (
    RESULTS_FILENAME,
    Fingerprint,
    ResultsStore,
    RolloutRecord,
    read_results,
)

FP = Fingerprint("sim", "ckpt@0123456789abcdef", "cafebabe00000000", ("pick_place", "stack_cups"))


def _record(task="pick_place", rollout=0, outcome=Outcome.SUCCESS, **kw):
    base = dict(
        task=task,
        rollout=rollout,
        seed=rollout,
        attempt=0,
        outcome=outcome,
        end_reason=EndReason.PREDICATE_SUCCESS,
        judged_by="predicate",
        instruction="put the red cube in the bowl",
        time_limit_s=10.0,
        duration_s=4.2,
        started_at="2026-01-01T00:00:00.000Z",
        ended_at="2026-01-01T00:00:05.000Z",
        chunk_latencies_ms=[12.5, 13.25],
    )
    base.update(kw)
    return RolloutRecord(**base)


def test_each_append_is_on_disk_before_it_returns(tmp_path):
    with ResultsStore.open(tmp_path, FP, {"config": {"x": 1}}) as store:
        store.append(_record(rollout=0))
        # A separate reader sees the line at once, complete and newline-terminated.
        text = (tmp_path / RESULTS_FILENAME).read_text()
        assert text.endswith("\n")
        seen = read_results(tmp_path)
        assert [r.key for r in seen.records] == [("pick_place", 0)]
        store.append(_record(rollout=1, outcome=Outcome.FAILURE, end_reason=EndReason.TIME_LIMIT))
        assert len(read_results(tmp_path).records) == 2
    results = read_results(tmp_path)
    assert results.fingerprint == FP and results.header["config"] == {"x": 1}
    assert len(results.sessions) == 1
    assert results.records[1].outcome is Outcome.FAILURE and results.records[1].chunk_latencies_ms == [
        12.5,
        13.25,
    ]


def test_record_round_trip_with_non_finite_metric(tmp_path):
    with ResultsStore.open(tmp_path, FP) as store:
        store.append(_record(metrics={"distance_m": 0.25, "angle": math.nan}, note='a "quoted" | note'))
    line = (tmp_path / RESULTS_FILENAME).read_text().splitlines()[-1]
    assert json.loads(line)["metrics"] == {"distance_m": 0.25, "angle": None}
    rec = read_results(tmp_path).records[0]
    assert rec.metrics["distance_m"] == 0.25 and math.isnan(rec.metrics["angle"])
    assert rec.note == 'a "quoted" | note'


def test_torn_final_line_is_cut_off_on_resume(tmp_path, caplog):
    with ResultsStore.open(tmp_path, FP) as store:
        store.append(_record(rollout=0))
    path = tmp_path / RESULTS_FILENAME
    good = path.read_bytes()
    path.write_bytes(good + b'{"type":"rollout","task":"pick_pl')  # a crash in the middle of a write
    assert len(read_results(tmp_path).records) == 1  # readers ignore the torn tail
    with ResultsStore.open(tmp_path, FP) as store:
        assert "torn final line" in caplog.text
        assert store.completed_keys() == {("pick_place", 0)}
        store.append(_record(rollout=1))
    text = path.read_text()
    assert text.startswith(good.decode())
    assert all(json.loads(line)["type"] for line in text.splitlines())  # no torn line left
    assert [r.rollout for r in read_results(tmp_path).records] == [0, 1]


def test_corrupt_line_in_the_middle_is_an_error(tmp_path):
    with ResultsStore.open(tmp_path, FP) as store:
        store.append(_record(rollout=0))
        store.append(_record(rollout=1))
    path = tmp_path / RESULTS_FILENAME
    lines = path.read_text().splitlines()
    lines[2] = lines[2][:40]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ResultsError, match="line 3 is corrupt"):
        read_results(tmp_path)
    with pytest.raises(ResultsError, match="line 3 is corrupt"):
        ResultsStore.open(tmp_path, FP)


def test_other_checkpoint_or_config_refuses_to_mix(tmp_path):
    with ResultsStore.open(tmp_path, FP) as store:
        store.append(_record())
    other = Fingerprint("sim", "other@ffffffffffffffff", FP.config_hash, ("pick_place",))
    with pytest.raises(ResultsError) as info:
        ResultsStore.open(tmp_path, other)
    message = str(info.value)
    assert (
        "checkpoint_id" in message
        and "other@ffffffffffffffff" in message
        and "ckpt@0123456789abcdef" in message
    )
    assert "tasks" in message and "config_hash" not in message
    # Nothing was written by the refused run.
    assert len(read_results(tmp_path).sessions) == 1


def test_one_writer_at_a_time(tmp_path):
    with ResultsStore.open(tmp_path, FP), pytest.raises(ResultsError, match="in use"):
        ResultsStore.open(tmp_path, FP)
    with ResultsStore.open(tmp_path, FP):  # released after close
        pass


def test_no_duplicate_counted_results_but_voided_attempts_are_kept(tmp_path):
    with ResultsStore.open(tmp_path, FP) as store:
        store.append(_record(rollout=0, outcome=Outcome.VOID, end_reason=EndReason.ESTOP))
        assert store.completed_keys() == set() and store.attempts(("pick_place", 0)) == 1
        store.append(_record(rollout=0, attempt=1))
        with pytest.raises(ResultsError, match="refusing to duplicate"):
            store.append(_record(rollout=0, attempt=2))
    results = read_results(tmp_path)
    assert len(results.records) == 2 and len(results.final) == 1 and len(results.voided) == 1


def test_not_a_results_directory(tmp_path):
    with pytest.raises(ResultsError, match="not an evaluation results directory"):
        read_results(tmp_path)
    (tmp_path / RESULTS_FILENAME).write_text('{"type": "rollout"}\n')
    with pytest.raises(ResultsError, match="first line must be the header"):
        read_results(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ResultsError, match="not a directory"):
        ResultsStore.open(tmp_path / "file", FP)
