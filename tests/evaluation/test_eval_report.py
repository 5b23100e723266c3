"""Report contents from a hand-written results file: counting rules, escaping, well-formed output."""

import json
import xml.etree.ElementTree as ET

import pytest

from dit4dit_policy.evaluation.interface import EndReason, Outcome
from dit4dit_policy.evaluation.metrics import wilson_interval
from dit4dit_policy.evaluation.report import build_report
from dit4dit_policy.evaluation.results import Fingerprint, ResultsStore, RolloutRecord, read_results
from dit4dit_policy.evaluation.summary import summarize

OUTCOMES = {
    "stack_cups": [Outcome.SUCCESS, Outcome.PARTIAL, Outcome.FAILURE, Outcome.SUCCESS],
    "open_drawer": [Outcome.FAILURE, Outcome.FAILURE, Outcome.SUCCESS],
}


def _write_run(directory, rollouts_per_task=4):
    fp = Fingerprint("real", "g1_finetune@00112233aabbccdd", "0123456789abcdef", tuple(OUTCOMES))
    header = {"config": {"protocol": {"rollouts_per_task": rollouts_per_task}}}
    with ResultsStore.open(directory, fp, header, {"rollouts_per_task": rollouts_per_task}) as store:
        position = 0
        for task, outcomes in OUTCOMES.items():
            for k, outcome in enumerate(outcomes):
                if task == "open_drawer" and k == 1:  # one voided attempt before the counted one
                    store.append(_record(task, k, Outcome.VOID, position, note="wrong <scene> | redo"))
                store.append(
                    _record(
                        task,
                        k,
                        outcome,
                        position,
                        attempt=store.attempts((task, k)),
                        note="cup | tipped *over*" if outcome is Outcome.PARTIAL else "",
                    )
                )
                position += 1


def _record(task, k, outcome, position, attempt=0, note=""):
    return RolloutRecord(
        task=task,
        rollout=k,
        seed=k,
        attempt=attempt,
        outcome=outcome,
        end_reason=EndReason.ESTOP if outcome is Outcome.VOID else EndReason.OPERATOR_STOP,
        judged_by="operator",
        instruction=f"{task} please",
        time_limit_s=60.0,
        duration_s=10.0 + k,
        started_at="2026-01-01T00:00:00.000Z",
        ended_at="2026-01-01T00:01:00.000Z",
        note=note,
        chunk_latencies_ms=[100.0 + k, 120.0],
        position=position,
    )


def test_counting_rules(tmp_path):
    _write_run(tmp_path)
    stats = summarize(read_results(tmp_path))
    cups, drawer = stats.task("stack_cups"), stats.task("open_drawer")
    assert (cups.success.successes, cups.n, cups.partial, cups.failure, cups.voided) == (2, 4, 1, 1, 0)
    assert (drawer.success.successes, drawer.n, drawer.voided, drawer.planned) == (1, 3, 1, 4)
    assert (stats.overall.success.successes, stats.overall.n, stats.overall.planned) == (3, 7, 8)
    assert (stats.overall.success.lower, stats.overall.success.upper) == pytest.approx(wilson_interval(3, 7))
    assert not stats.complete
    assert stats.overall.latency.count == 14 and stats.overall.latency.max == 120.0


def test_report_is_escaped_and_well_formed(tmp_path):
    _write_run(tmp_path / "run")
    files = build_report(tmp_path / "run", tmp_path / "out")
    md = files.markdown.read_text()
    assert "| stack_cups | 4/4 | 2 | 50 % | 15-85 % | 1 | 1 | 0 |" in md
    assert "| open_drawer | 3/4 | 1 | 33 % |" in md
    assert "INCOMPLETE RUN: 1 planned rollouts have no result yet" in md
    assert "cup \\| tipped \\*over\\*" in md  # table cell: pipe escaped (and markdown kept literal)
    assert "No recorded rollouts to plot" in md
    html = files.html.read_text()
    root = ET.fromstring(html.split("\n", 1)[1])
    cells = ["".join(td.itertext()) for td in root.iter("td")]
    assert "wrong <scene> | redo" in cells and "cup | tipped *over*" in cells
    rows = [tr for tr in root.iter("tr") if tr.get("class") == "void"]
    assert len(rows) == 1
    summary = json.loads(files.summary.read_text())
    assert summary["run"]["overall"]["success"]["successes"] == 3 and summary["comparison"] is None
    assert sorted(p.name for p in files.plots) == ["latency_hist.png", "success_rates.png"]
    assert all(p.stat().st_size > 5000 for p in files.plots)


def test_report_rejects_bad_arguments(tmp_path):
    _write_run(tmp_path / "run")
    with pytest.raises(ValueError, match="traces"):
        build_report(tmp_path / "run", traces=-1)
