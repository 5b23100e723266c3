"""Numbers of a results file: per-task and pooled success with Wilson intervals, latencies, comparisons.

Counting rules (docs/evaluation.md):

* a rollout counts once, through its counted (non-void) record; voided attempts are listed apart;
* the success rate counts ``success`` only — ``partial`` is reported next to it, not as half a
  success (a binomial interval needs a binary outcome);
* the pooled ("all tasks") rate adds the counts of every task; with unequal rollouts per task it
  weights tasks by their rollouts.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from dit4dit_policy.evaluation.interface import Outcome
from dit4dit_policy.evaluation.metrics import Comparison, Proportion, percentile
from dit4dit_policy.evaluation.results import Results, RolloutRecord

ALL_TASKS = "all tasks"


@dataclasses.dataclass(frozen=True)
class LatencyStats:
    """Chunk inference latency [ms].

    Attributes:
        count: number of chunks.
        mean: mean [ms].
        p50: median [ms].
        p95: 95th percentile [ms].
        max: maximum [ms].
    """

    count: int
    mean: float
    p50: float
    p95: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> LatencyStats:
        """Statistics of ``values`` (NaN fields when empty)."""
        if not values:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        return cls(
            len(values),
            sum(values) / len(values),
            percentile(values, 50),
            percentile(values, 95),
            max(values),
        )


@dataclasses.dataclass(frozen=True)
class TaskStats:
    """One task's (or the pooled) results.

    Attributes:
        task: task name, or :data:`ALL_TASKS`.
        planned: rollouts planned.
        success: successes with the Wilson interval (n = counted rollouts).
        partial: rollouts marked partial.
        failure: rollouts marked failure.
        voided: voided attempts.
        mean_duration_s: mean rollout duration [s] (NaN when none).
        latency: chunk latency statistics.
    """

    task: str
    planned: int
    success: Proportion
    partial: int
    failure: int
    voided: int
    mean_duration_s: float
    latency: LatencyStats

    @property
    def n(self) -> int:
        """Counted rollouts."""
        return self.success.n

    def to_json(self) -> dict[str, Any]:
        """JSON form (NaN → null)."""
        return _clean(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class RunStats:
    """Summary of a results file.

    Attributes:
        results: the parsed results.
        tasks: per-task stats, in config order.
        overall: pooled stats.
        confidence: interval coverage.
    """

    results: Results
    tasks: list[TaskStats]
    overall: TaskStats
    confidence: float

    def task(self, name: str) -> TaskStats:
        """Stats of one task (KeyError if absent)."""
        for stats in self.tasks:
            if stats.task == name:
                return stats
        raise KeyError(name)

    @property
    def complete(self) -> bool:
        """Every planned rollout has a counted result."""
        return self.overall.n >= self.overall.planned

    def to_json(self) -> dict[str, Any]:
        """Machine-readable summary (the report's ``summary.json``)."""
        fp = self.results.fingerprint
        return {
            "results_dir": str(self.results.directory),
            "fingerprint": fp.to_json(),
            "confidence": self.confidence,
            "complete": self.complete,
            "sessions": len(self.results.sessions),
            "tasks": [t.to_json() for t in self.tasks],
            "overall": self.overall.to_json(),
        }


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def planned_rollouts(results: Results) -> int:
    """Rollouts per task of the latest session's plan (a resumed run may extend or shorten it).

    Falls back to the header's config, and is never less than the highest rollout index done.
    """
    planned = 0
    for source in [*reversed(results.sessions), results.header.get("config", {}).get("protocol", {})]:
        value = source.get("rollouts_per_task") if isinstance(source, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            planned = value
            break
    done = [r.rollout + 1 for r in results.final]
    return max([planned, *done])


def _stats(
    task: str, records: list[RolloutRecord], voided: int, planned: int, confidence: float
) -> TaskStats:
    successes = sum(1 for r in records if r.outcome is Outcome.SUCCESS)
    durations = [r.duration_s for r in records]
    latencies = [x for r in records for x in r.chunk_latencies_ms]
    return TaskStats(
        task=task,
        planned=planned,
        success=Proportion.of(successes, len(records), confidence),
        partial=sum(1 for r in records if r.outcome is Outcome.PARTIAL),
        failure=sum(1 for r in records if r.outcome is Outcome.FAILURE),
        voided=voided,
        mean_duration_s=sum(durations) / len(durations) if durations else math.nan,
        latency=LatencyStats.of(latencies),
    )


def summarize(results: Results, confidence: float = 0.95) -> RunStats:
    """Per-task and pooled statistics of ``results``.

    Args:
        results: a parsed results file.
        confidence: Wilson interval coverage.

    Returns:
        The run's statistics.
    """
    per_task = planned_rollouts(results)
    final = results.final
    tasks = []
    for name in results.tasks:
        records = [r for r in final if r.task == name]
        voided = sum(1 for r in results.voided if r.task == name)
        tasks.append(_stats(name, records, voided, per_task, confidence))
    overall = _stats(ALL_TASKS, final, len(results.voided), per_task * len(results.tasks), confidence)
    return RunStats(results, tasks, overall, confidence)


@dataclasses.dataclass(frozen=True)
class RunComparison:
    """This run (A) against another (B), per common task and pooled over the common tasks.

    Attributes:
        a: run A's stats.
        b: run B's stats.
        rows: (task, comparison) for every task both runs have with n > 0 on both sides, then the pool.
        only_a: tasks only run A has.
        only_b: tasks only run B has.
    """

    a: RunStats
    b: RunStats
    rows: list[tuple[str, Comparison]]
    only_a: list[str]
    only_b: list[str]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return _clean(
            {
                "a": str(self.a.results.directory),
                "b": str(self.b.results.directory),
                "rows": [{"task": t, **dataclasses.asdict(c)} for t, c in self.rows],
                "only_a": self.only_a,
                "only_b": self.only_b,
            }
        )


def compare(a: RunStats, b: RunStats) -> RunComparison:
    """Difference of success rates with the Newcombe interval, z-test and Fisher's exact test."""
    names_b = {t.task for t in b.tasks}
    names_a = {t.task for t in a.tasks}
    rows = []
    sa = sb = na = nb = 0
    for stats in a.tasks:
        if stats.task not in names_b:
            continue
        other = b.task(stats.task)
        if stats.n == 0 or other.n == 0:
            continue
        rows.append(
            (
                stats.task,
                Comparison.of(
                    stats.success.successes, stats.n, other.success.successes, other.n, a.confidence
                ),
            )
        )
        sa, na = sa + stats.success.successes, na + stats.n
        sb, nb = sb + other.success.successes, nb + other.n
    if len(rows) > 1:
        rows.append((ALL_TASKS, Comparison.of(sa, na, sb, nb, a.confidence)))
    return RunComparison(a, b, rows, sorted(names_a - names_b), sorted(names_b - names_a))
