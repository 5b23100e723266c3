"""The protocol runner: tasks × N rollouts over any :class:`RolloutEnvironment`, durably recorded.

Per rollout (``docs/evaluation.md``)::

    reset(task, seed) → operator starts → start(instruction) → poll … until the predicate, the time
    limit, an operator stop or an e-stop → stop() → verdict (predicate or operator) → episode saved
    → result line fsync-ed → home()

The result is on disk before the arms move home and before the next rollout starts. Re-running
with the same results directory resumes at the first rollout without a counted result; a voided
attempt (operator's ``void``) is kept and the rollout runs again. An exception (the environment
failing, Ctrl-C) stops the policy, drops the unfinished rollout's recording and propagates; every
result already written stays.

Entry point for the CLI (``dit4dit eval sim|real``) and other programs: :func:`run_protocol`.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dit4dit_policy import __version__
from dit4dit_policy.config import to_dict
from dit4dit_policy.errors import DatasetError
from dit4dit_policy.evaluation.config import EvalConfig, config_hash
from dit4dit_policy.evaluation.interface import (
    AutomaticOperator,
    EndReason,
    Operator,
    OperatorEvent,
    Phase,
    RolloutEnvironment,
    RolloutStatus,
)
from dit4dit_policy.evaluation.plan import Slot, build_plan
from dit4dit_policy.evaluation.recording import RECORDINGS_DIRNAME, RolloutRecorder
from dit4dit_policy.evaluation.results import Fingerprint, Results, ResultsStore, RolloutRecord, utc_now

logger = logging.getLogger(__name__)

_PHASE_REASON = {
    Phase.SUCCESS: EndReason.PREDICATE_SUCCESS,
    Phase.FAILURE: EndReason.PREDICATE_FAILURE,
    Phase.TIMEOUT: EndReason.TIME_LIMIT,
    Phase.FAULT: EndReason.FAULT,
}


@dataclasses.dataclass
class RunSummary:
    """What a call of :func:`run_protocol` did.

    Attributes:
        results: everything in the results file after the session.
        planned: rollouts in the plan.
        ran: rollouts run in this session (voided attempts included).
        finished: True when every planned rollout has a counted result.
        stopped_by_operator: the operator ended the session early.
    """

    results: Results
    planned: int
    ran: int
    finished: bool
    stopped_by_operator: bool


def software_info() -> dict[str, Any]:
    """Package version and, when run from a git checkout, its commit (best effort)."""
    info: dict[str, Any] = {"dit4dit_policy": __version__}
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if sha.returncode == 0:
            info["git_commit"] = sha.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def run_protocol(
    config: EvalConfig,
    environment: RolloutEnvironment,
    results_dir: str | Path,
    *,
    mode: str,
    checkpoint_id: str,
    extra: Mapping[str, Any] | None = None,
    operator: Operator | None = None,
    limit: int | None = None,
    on_result: Callable[[RolloutRecord], None] | None = None,
) -> RunSummary:
    """Run (or resume) the protocol of ``config`` in ``environment``, writing ``results_dir``.

    Args:
        config: the evaluation config; every task needs an instruction (resolve simulator tasks first).
        environment: where the rollouts run; the caller owns it (this function does not close it).
        results_dir: results directory (created, or resumed when it holds a run with the same
            fingerprint).
        mode: ``"real"``, ``"sim"`` or another environment kind (part of the fingerprint).
        checkpoint_id: identifies the policy (:func:`~dit4dit_policy.evaluation.identity.checkpoint_id`
            for a checkpoint directory; e.g. ``"scripted-expert"`` for the simulator's experts).
        extra: JSON-able settings of the environment and the policy that define the experiment
            (hashed into the fingerprint with the config).
        operator: who starts and judges rollouts; default :class:`AutomaticOperator` (predicate).
        limit: run at most this many rollouts in this session (None: all remaining).
        on_result: called with each record once it is on disk.

    Returns:
        A :class:`RunSummary`.

    Raises:
        ResultsError: the results directory belongs to another evaluation, is locked or corrupt.
        ValueError: a task without an instruction, or a bad ``limit``.
        Exception: whatever the environment raises (the results so far are kept).
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit!r}")
    plan = build_plan(config.protocol)
    results_dir = Path(results_dir)
    extra = dict(extra or {})
    fingerprint = Fingerprint(
        mode, checkpoint_id, config_hash(config, extra), tuple(t.name for t in config.protocol.tasks)
    )
    header_extra = {"config": to_dict(config), "extra": extra, "software": software_info()}
    operator = operator or AutomaticOperator()
    ran = 0
    quit_requested = False
    session_extra = {"rollouts_per_task": config.protocol.rollouts_per_task, "mode": mode}
    with ResultsStore.open(results_dir, fingerprint, header_extra, session_extra) as store:
        recorder = None
        if config.recording.enabled:
            recorder = RolloutRecorder(results_dir / RECORDINGS_DIRNAME, config.recording.video_codec)
            _note_orphans(store, recorder)
        operator.attach(environment)
        try:
            done = store.completed_keys()
            remaining = [s for s in plan if s.key not in done]
            if done:
                logger.info(
                    "resuming %s: %d of %d rollouts done", results_dir, len(plan) - len(remaining), len(plan)
                )
            for slot in remaining:
                while not quit_requested:
                    if limit is not None and ran >= limit:
                        quit_requested = True
                        break
                    record, quit_requested = _run_rollout(
                        slot, config, environment, operator, store, recorder
                    )
                    if record is None:
                        break
                    ran += 1
                    if on_result is not None:
                        on_result(record)
                    if record.counts:
                        break
                if quit_requested:
                    break
        finally:
            operator.detach()
            if recorder is not None:
                recorder.close()
        results = store.results
    finished = {s.key for s in plan} <= {r.key for r in results.final}
    stopped = quit_requested and not finished and (limit is None or ran < limit)
    return RunSummary(results, len(plan), ran, finished, stopped)


def _note_orphans(store: ResultsStore, recorder: RolloutRecorder) -> None:
    """Note episodes saved by a run that crashed before writing their result line."""
    referenced = {r.episode_index for r in store.results.records if r.episode_index is not None}
    noted = {i for n in store.results.notes for i in n.get("orphan_episodes", [])}
    orphans = sorted(set(range(recorder.num_episodes)) - referenced - noted)
    if orphans:
        logger.warning("recordings %s have no result (a crash after saving them); they are ignored", orphans)
        store.append_note({"orphan_episodes": orphans})


def _run_rollout(
    slot: Slot,
    config: EvalConfig,
    environment: RolloutEnvironment,
    operator: Operator,
    store: ResultsStore,
    recorder: RolloutRecorder | None,
) -> tuple[RolloutRecord | None, bool]:
    """One attempt of ``slot``; returns (record or None if the operator quit before it, quit requested)."""
    label = slot.label(config.protocol.rollouts_per_task)
    while True:
        operator.announce(f"resetting the scene: {label}")
        own_instruction = environment.reset(slot.task.name, slot.seed)
        if operator.estopped() or _estop_latched(environment):
            # An e-stop during the reset, or latched before it (another console, an earlier
            # session): recover (operator confirms), home, and set the scene up again.
            if not _recover_and_home(environment, operator, confirm=True):
                return None, True
            continue
        instruction = slot.instruction if slot.instruction is not None else own_instruction
        if not instruction:
            raise ValueError(
                f"task '{slot.task.name}' has no instruction: set protocol.tasks[].instruction "
                "(this environment does not define one)"
            )
        event = operator.wait_for_start(f"{label}: {instruction!r}, time limit {slot.time_limit_s:g} s")
        if event is OperatorEvent.QUIT:
            return None, True
        if not operator.estopped():
            break
        # E-stop between rollouts: recover (operator confirms), home, and set the scene up again.
        if not _recover_and_home(environment, operator, confirm=True):
            return None, True
    started_at = utc_now()
    started_wall = time.monotonic()
    latencies: list[float] = []
    recording_error: str | None = None
    quit_requested = False
    status = RolloutStatus(Phase.RUNNING, 0.0)
    self_paced = bool(getattr(environment, "self_paced", False))
    environment.start(instruction)
    operator.announce(f"running: {label}")
    try:
        while True:
            status = environment.poll()
            latencies.extend(float(x) for x in status.chunk_latencies_ms)
            if recorder is not None and recording_error is None:
                try:
                    for frame in status.frames:
                        recorder.add(frame)
                except DatasetError as exc:
                    recording_error = str(exc)
                    logger.error("recording of %s failed; the rollout goes on unrecorded: %s", label, exc)
                    recorder.discard()
            if operator.estopped():
                end_reason = EndReason.ESTOP
                break
            if status.phase.terminal:
                end_reason = _PHASE_REASON[status.phase]
                break
            if status.elapsed_s >= slot.time_limit_s:
                end_reason = EndReason.TIME_LIMIT
                break
            event = operator.poll_event()
            if event in (OperatorEvent.STOP, OperatorEvent.QUIT):
                end_reason = EndReason.OPERATOR_STOP
                quit_requested = event is OperatorEvent.QUIT
                break
            if config.protocol.poll_period_s > 0 and not self_paced:
                time.sleep(config.protocol.poll_period_s)
        estopped = end_reason is EndReason.ESTOP
        if not estopped:
            environment.stop()
    except BaseException:
        logger.error("rollout %s interrupted; stopping the policy (its result is not recorded)", label)
        _safe(environment.stop)
        if recorder is not None:
            _safe(recorder.discard)
        raise
    duration_s = float(status.elapsed_s)
    operator.announce(f"ended ({end_reason.value}) after {duration_s:.1f} s: {label}")
    mark = operator.judge(label, status, end_reason)
    episode_index = None
    if recorder is not None and recording_error is None:
        try:
            episode_index = recorder.save(instruction)
        except DatasetError as exc:
            recording_error = str(exc)
            logger.error("saving the recording of %s failed (the verdict is kept): %s", label, exc)
    record = RolloutRecord(
        task=slot.task.name,
        rollout=slot.rollout,
        seed=slot.seed,
        attempt=store.attempts(slot.key),
        outcome=mark.outcome,
        end_reason=end_reason,
        judged_by="operator" if operator.interactive else "predicate",
        instruction=instruction,
        time_limit_s=slot.time_limit_s,
        duration_s=duration_s,
        started_at=started_at,
        ended_at=utc_now(),
        note=mark.note,
        estop=estopped,
        chunk_latencies_ms=latencies,
        metrics={k: float(v) for k, v in status.metrics.items()},
        episode_index=episode_index,
        recording_error=recording_error,
        position=slot.position,
    )
    store.append(record)
    logger.info(
        "%s: %s (%s, %.1f s, wall %.1f s)",
        label,
        mark.outcome.value,
        end_reason.value,
        duration_s,
        time.monotonic() - started_wall,
    )
    # Also an e-stop pressed while the operator judged, or one latched elsewhere.
    if not _recover_and_home(environment, operator, confirm=estopped):
        return record, True
    return record, quit_requested


def _estop_latched(environment: RolloutEnvironment) -> bool:
    """The environment's optional ``estop_latched()`` (False when it has none)."""
    latched = getattr(environment, "estop_latched", None)
    return bool(latched()) if callable(latched) else False


def _recover_and_home(environment: RolloutEnvironment, operator: Operator, confirm: bool) -> bool:
    """``home()``, after the operator's confirmation when an e-stop happened (or ``confirm``).

    An e-stop while homing (the environment leaves it latched) asks for the confirmation again.

    Returns:
        False when the operator declined to recover (the session ends), else True.
    """
    while True:
        if confirm or operator.estopped() or _estop_latched(environment):
            if not operator.confirm_recovery():
                return False
            operator.clear_estop()
            if operator.estopped():  # e-stopped again right after confirming
                confirm = True
                continue
        operator.announce("arms returning to the start pose")
        environment.home()
        if not (operator.estopped() or _estop_latched(environment)):
            return True
        confirm = True


def _safe(fn: Callable[[], object]) -> None:
    try:
        fn()
    except Exception:  # the original error matters more; this one is only logged
        logger.exception("cleanup step %s failed", getattr(fn, "__qualname__", fn))


__all__ = ["RunSummary", "run_protocol", "software_info"]
