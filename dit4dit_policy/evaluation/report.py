"""``dit4dit report``: Markdown + HTML report (and ``summary.json``) of a results directory.

Contents: the run's identity and completeness; success per task with Wilson intervals and a bar
plot; with ``--compare`` the per-task difference with its Newcombe interval, the two-proportion
z-test and Fisher's exact test; chunk-latency statistics and histogram; joint traces of selected
recorded rollouts (by default the first success and the first non-success of each task); the
per-rollout table; voided attempts and notes.

Every number comes from ``results.jsonl`` through :func:`~dit4dit_policy.evaluation.summary.summarize`;
the traces come from ``recordings/``. Output files are written atomically.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path

from dit4dit_policy import schema
from dit4dit_policy.errors import DatasetError
from dit4dit_policy.evaluation import document as doc
from dit4dit_policy.evaluation import plots
from dit4dit_policy.evaluation.interface import Outcome
from dit4dit_policy.evaluation.recording import FEATURE_CHUNK_ID, RECORDINGS_DIRNAME
from dit4dit_policy.evaluation.results import RolloutRecord, read_results
from dit4dit_policy.evaluation.summary import RunComparison, RunStats, TaskStats, compare, summarize

logger = logging.getLogger(__name__)

REPORT_DIRNAME = "report"


@dataclasses.dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote.

    Attributes:
        markdown: ``report.md``.
        html: ``report.html``.
        summary: ``summary.json``.
        plots: every PNG.
    """

    markdown: Path
    html: Path
    summary: Path
    plots: list[Path]


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:.0f} %"


def _ms(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.1f}"


def format_p(p: float) -> str:
    """A p-value with three decimals, or two significant digits below 0.001 (``"3.2e-05"``)."""
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _interval(stats: TaskStats) -> str:
    if stats.n == 0:
        return "n/a"
    return f"{100 * stats.success.lower:.0f}-{100 * stats.success.upper:.0f} %"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _label(stats: RunStats) -> str:
    return f"{stats.results.directory.name} ({stats.results.fingerprint.checkpoint_id})"


def _identity(stats: RunStats) -> list[doc.Block]:
    res = stats.results
    fp = res.fingerprint
    software = res.header.get("software", {})
    done, planned = stats.overall.n, stats.overall.planned
    items = [
        f"results: {res.directory}",
        f"mode: {fp.mode}; policy: {fp.checkpoint_id}; config hash: {fp.config_hash}",
        f"tasks: {', '.join(fp.tasks)}",
        f"created: {res.header.get('created_at', '?')}; sessions: {len(res.sessions)}",
        f"software: dit4dit_policy {software.get('dit4dit_policy', '?')}"
        + (f", commit {software['git_commit'][:12]}" if software.get("git_commit") else ""),
        f"rollouts with a result: {done} of {planned} planned"
        + (f"; voided attempts: {len(res.voided)}" if res.voided else ""),
    ]
    blocks: list[doc.Block] = [doc.Bullets(items)]
    if done < planned:
        blocks.append(
            doc.Paragraph(
                f"INCOMPLETE RUN: {planned - done} planned rollouts have no result yet; "
                "re-run the same command to resume.",
                emphasis=True,
            )
        )
    return blocks


def _task_table(stats: RunStats) -> doc.Table:
    rows = []
    for t in [*stats.tasks, stats.overall]:
        rows.append(
            [
                t.task,
                f"{t.n}/{t.planned}",
                str(t.success.successes),
                _pct(t.success.rate),
                _interval(t),
                str(t.partial),
                str(t.failure),
                str(t.voided),
                "n/a" if not math.isfinite(t.mean_duration_s) else f"{t.mean_duration_s:.1f}",
            ]
        )
    conf = f"{100 * stats.confidence:.0f} %"
    headers = [
        "task",
        "rollouts",
        "success",
        "rate",
        f"{conf} Wilson interval",
        "partial",
        "failure",
        "void",
        "mean duration [s]",
    ]
    return doc.Table(headers, rows, numeric=frozenset({1, 2, 3, 5, 6, 7, 8}))


def _comparison_blocks(cmp: RunComparison) -> list[doc.Block]:
    blocks: list[doc.Block] = [
        doc.Heading(2, "Comparison"),
        doc.Paragraph(
            f"A = {_label(cmp.a)}; B = {_label(cmp.b)}. Difference of success rates A − B with the "
            "Newcombe (Wilson-based) interval, the pooled two-proportion z-test and Fisher's exact test "
            "(two-sided). At 20 rollouts per task only large differences are detectable; prefer the "
            "exact test when they disagree."
        ),
    ]
    rows = []
    for task, c in cmp.rows:
        rows.append(
            [
                task,
                c.a.format(),
                c.b.format(),
                f"{100 * c.difference:+.0f} pp",
                f"{100 * c.lower:+.0f} to {100 * c.upper:+.0f} pp",
                f"{c.z:+.2f}",
                format_p(c.p_value),
                format_p(c.fisher_p),
            ]
        )
    if rows:
        conf = f"{100 * cmp.a.confidence:.0f} %"
        blocks.append(
            doc.Table(
                [
                    "task",
                    "A",
                    "B",
                    "A − B",
                    f"{conf} interval of A − B",
                    "z",
                    "p (z-test)",
                    "p (Fisher exact)",
                ],
                rows,
                numeric=frozenset({3, 4, 5, 6, 7}),
            )
        )
    else:
        blocks.append(doc.Paragraph("The two runs have no task with results in common.", emphasis=True))
    if cmp.only_a or cmp.only_b:
        blocks.append(
            doc.Paragraph(
                f"Tasks only in A: {', '.join(cmp.only_a) or 'none'}; "
                f"only in B: {', '.join(cmp.only_b) or 'none'}."
            )
        )
    return blocks


def _latency_table(stats: RunStats) -> doc.Table:
    rows = [
        [
            t.task,
            str(t.latency.count),
            _ms(t.latency.mean),
            _ms(t.latency.p50),
            _ms(t.latency.p95),
            _ms(t.latency.max),
        ]
        for t in [*stats.tasks, stats.overall]
    ]
    return doc.Table(
        ["task", "chunks", "mean [ms]", "p50 [ms]", "p95 [ms]", "max [ms]"],
        rows,
        numeric=frozenset({1, 2, 3, 4, 5}),
    )


def select_trace_rollouts(stats: RunStats, limit: int) -> list[RolloutRecord]:
    """Per task, the first recorded success and the first recorded non-success, up to ``limit``."""
    chosen: list[RolloutRecord] = []
    for task in stats.results.tasks:
        recorded = [r for r in stats.results.final if r.task == task and r.episode_index is not None]
        for want_success in (True, False):
            match = next((r for r in recorded if (r.outcome is Outcome.SUCCESS) == want_success), None)
            if match is not None and len(chosen) < limit:
                chosen.append(match)
    return chosen


def _trace_blocks(stats: RunStats, out_dir: Path, limit: int) -> tuple[list[doc.Block], list[Path]]:
    records = select_trace_rollouts(stats, limit) if limit > 0 else []
    blocks: list[doc.Block] = [doc.Heading(2, "Joint traces")]
    root = stats.results.directory / RECORDINGS_DIRNAME
    if not records:
        blocks.append(doc.Paragraph("No recorded rollouts to plot (recording disabled or none finished)."))
        return blocks, []
    from dit4dit_policy.data.lerobot_dataset import LeRobotDataset

    try:
        dataset = LeRobotDataset(root, repair_info=True)
    except DatasetError as exc:
        blocks.append(doc.Paragraph(f"The recordings in {root} cannot be read: {exc}", emphasis=True))
        return blocks, []
    paths = []
    columns = [schema.FEATURE_TIMESTAMP, schema.FEATURE_STATE, schema.FEATURE_ACTION, FEATURE_CHUNK_ID]
    for record in records:
        name = f"traces_{record.task}_{record.rollout:03d}.png"
        try:
            data = dataset.episode_data(int(record.episode_index), columns)
        except (DatasetError, IndexError) as exc:
            blocks.append(
                doc.Paragraph(f"{record.task} rollout {record.rollout}: recording unreadable: {exc}")
            )
            continue
        title = f"{record.task}, rollout {record.rollout} (seed {record.seed}): {record.outcome.value}"
        path = plots.plot_traces(
            data[schema.FEATURE_TIMESTAMP],
            data[schema.FEATURE_STATE],
            data[schema.FEATURE_ACTION],
            data[FEATURE_CHUNK_ID],
            title,
            out_dir / "plots" / name,
        )
        paths.append(path)
        blocks.append(doc.Image(f"plots/{name}", f"{title}; episode {record.episode_index} of recordings/"))
    return blocks, paths


def _rollout_table(stats: RunStats) -> doc.Table:
    rows, classes = [], []
    for r in stats.results.records:
        lat = sorted(r.chunk_latencies_ms)
        p50 = lat[len(lat) // 2] if lat else math.nan
        rows.append(
            [
                str(r.position),
                r.task,
                str(r.rollout),
                str(r.seed),
                str(r.attempt),
                r.outcome.value,
                r.end_reason.value,
                f"{r.duration_s:.1f}",
                r.judged_by,
                str(len(r.chunk_latencies_ms)),
                _ms(p50),
                "-" if r.episode_index is None else str(r.episode_index),
                r.note + (f" [recording failed: {r.recording_error}]" if r.recording_error else ""),
            ]
        )
        classes.append(r.outcome.value)
    headers = [
        "#",
        "task",
        "rollout",
        "seed",
        "attempt",
        "outcome",
        "ended by",
        "duration [s]",
        "judged by",
        "chunks",
        "median latency [ms]",
        "episode",
        "note",
    ]
    return doc.Table(
        headers, rows, numeric=frozenset({0, 2, 3, 4, 7, 9, 10, 11}), row_classes=classes, class_column=5
    )


def build_report(
    results_dir: str | Path,
    out_dir: str | Path | None = None,
    compare_dir: str | Path | None = None,
    traces: int = 6,
    confidence: float = 0.95,
) -> ReportFiles:
    """Write ``report.md``, ``report.html``, ``summary.json`` and ``plots/*.png``.

    Args:
        results_dir: an evaluation results directory (with ``results.jsonl``).
        out_dir: where to write (default ``<results_dir>/report``).
        compare_dir: another results directory to compare with (A = results_dir, B = compare_dir).
        traces: at most this many joint-trace figures (0: none).
        confidence: interval coverage.

    Returns:
        The written files.

    Raises:
        ResultsError: an unreadable results directory.
        ValueError: a negative ``traces``.
    """
    if traces < 0:
        raise ValueError(f"traces must be >= 0, got {traces}")
    stats = summarize(read_results(results_dir), confidence)
    out = Path(out_dir) if out_dir is not None else Path(results_dir) / REPORT_DIRNAME
    runs = [("A" if compare_dir else "this run", stats)]
    cmp = None
    if compare_dir is not None:
        other = summarize(read_results(compare_dir), confidence)
        runs = [(f"A: {_label(stats)}", stats), (f"B: {_label(other)}", other)]
        cmp = compare(stats, other)
    fp = stats.results.fingerprint
    title = f"Evaluation report: {fp.checkpoint_id} ({fp.mode})"
    plot_paths = [
        plots.plot_success(runs, out / "plots" / "success_rates.png"),
        plots.plot_latency(runs, out / "plots" / "latency_hist.png"),
    ]
    blocks: list[doc.Block] = [doc.Heading(1, title), *_identity(stats)]
    blocks += [
        doc.Heading(2, "Success per task"),
        _task_table(stats),
        doc.Paragraph(
            "Success counts 'success' marks only; 'partial' is listed apart. The pooled row adds "
            "the counts of all tasks. Intervals are Wilson score intervals (no continuity "
            "correction)."
        ),
        doc.Image("plots/success_rates.png", "Success rate per task with Wilson intervals"),
    ]
    if cmp is not None:
        blocks += _comparison_blocks(cmp)
    blocks += [
        doc.Heading(2, "Chunk inference latency"),
        _latency_table(stats),
        doc.Image("plots/latency_hist.png", "Histogram of chunk inference latencies"),
    ]
    trace_blocks, trace_paths = _trace_blocks(stats, out, traces)
    blocks += trace_blocks
    plot_paths += trace_paths
    blocks += [doc.Heading(2, "Rollouts"), _rollout_table(stats)]
    notes = [n for n in stats.results.notes if n.get("orphan_episodes")]
    if notes:
        orphans = sorted({i for n in notes for i in n["orphan_episodes"]})
        blocks.append(
            doc.Paragraph(
                f"Recorded episodes without a result (a crash between saving the recording and "
                f"writing the result; ignored): {orphans}",
                emphasis=True,
            )
        )
    summary = {"run": stats.to_json(), "comparison": cmp.to_json() if cmp is not None else None}
    files = ReportFiles(out / "report.md", out / "report.html", out / "summary.json", plot_paths)
    _atomic_write(files.summary, json.dumps(summary, indent=2, allow_nan=False) + "\n")
    _atomic_write(files.markdown, doc.to_markdown(blocks))
    _atomic_write(files.html, doc.to_html(blocks, title))
    logger.info("report written to %s", out)
    return files
