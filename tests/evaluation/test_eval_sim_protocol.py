"""A 3-rollout simulation evaluation with the scripted policy, through `dit4dit eval sim`, end to end:
results, recordings and a report whose numbers match the JSONL; then `dit4dit report --compare`.
"""

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

from dit4dit_policy.cli import main as cli_main
from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
from dit4dit_policy.evaluation.metrics import Comparison, wilson_interval
from dit4dit_policy.evaluation.report import format_p

pytestmark = pytest.mark.slow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _rollouts(directory):
    lines = [json.loads(x) for x in (directory / "results.jsonl").read_text().splitlines()]
    return [x for x in lines if x["type"] == "rollout"]


def _check_html(path):
    text = path.read_text()
    ET.fromstring(text.split("\n", 1)[1])  # well-formed after the DOCTYPE line

    class Collect(HTMLParser):
        def __init__(self):
            super().__init__()
            self.images, self.tables = [], 0

        def handle_starttag(self, tag, attrs):
            self.tables += tag == "table"
            if tag == "img":
                self.images.append(dict(attrs)["src"])

    parser = Collect()
    parser.feed(text)
    parser.close()
    return parser


def _check_png(path):
    import matplotlib.image

    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5000, path
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0.01  # not blank


@pytest.fixture(scope="module")
def scripted_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "scripted"
    code = cli_main.main(
        [
            "eval",
            "sim",
            "--task",
            "close_drawer",
            "--rollouts",
            "3",
            "--out",
            str(out),
            "--seed",
            "4",
            "--traces",
            "2",
        ]
    )
    assert code == 0
    return out


def test_results_match_the_predicate_and_the_recordings(scripted_run):
    rollouts = _rollouts(scripted_run)
    assert [(r["task"], r["rollout"], r["seed"]) for r in rollouts] == [
        ("close_drawer", k, 4 + k) for k in range(3)
    ]
    for r in rollouts:
        # The scripted expert closes the drawer: the predicate ends every rollout before the 6 s limit.
        assert (
            r["outcome"] == "success"
            and r["end_reason"] == "predicate_success"
            and r["judged_by"] == "predicate"
        )
        assert 0 < r["duration_s"] < r["time_limit_s"] == 6.0
        assert r["instruction"] == "push the drawer closed" and r["chunk_latencies_ms"]
    ds = LeRobotDataset(scripted_run / "recordings")
    assert ds.num_episodes == 3
    for r in rollouts:
        ep = ds.episode(r["episode_index"])
        # One frame per 1/30 s control step; one chunk of 16 points per 16 steps.
        assert ep.length == round(r["duration_s"] * 30)
        assert len(r["chunk_latencies_ms"]) == -(-ep.length // 16)
        chunk_ids = ep.data["eval.chunk_id"]
        assert chunk_ids.tolist() == [i // 16 for i in range(ep.length)]
        assert ep.task == r["instruction"]
        np.testing.assert_allclose(ep.data["eval.chunk_latency_ms"][::16], r["chunk_latencies_ms"], rtol=1e-3)
        # The commanded targets move the right arm (the acting one) and the state follows them.
        state, action = ep.data["observation.state"], ep.data["action"]
        assert np.abs(state[-1] - state[0]).max() > 0.2
        assert np.abs(state[-1, :14] - action[-2, :14]).max() < 0.1
        frames = ep.frames()
        assert frames.shape == (ep.length, 120, 160, 3) and frames.std() > 5


def test_report_numbers_match_the_jsonl(scripted_run):
    report = scripted_run / "report"
    rollouts = _rollouts(scripted_run)
    successes = sum(r["outcome"] == "success" for r in rollouts)
    lower, upper = wilson_interval(successes, len(rollouts))
    summary = json.loads((report / "summary.json").read_text())["run"]
    task = summary["tasks"][0]
    assert task["task"] == "close_drawer" and task["planned"] == 3
    assert task["success"]["successes"] == successes and task["success"]["n"] == len(rollouts)
    assert task["success"]["lower"] == pytest.approx(lower) and task["success"]["upper"] == pytest.approx(
        upper
    )
    latencies = [x for r in rollouts for x in r["chunk_latencies_ms"]]
    assert task["latency"]["count"] == len(latencies)
    assert task["latency"]["max"] == pytest.approx(max(latencies))
    assert task["mean_duration_s"] == pytest.approx(np.mean([r["duration_s"] for r in rollouts]))
    md = (report / "report.md").read_text()
    interval = f"{100 * lower:.0f}-{100 * upper:.0f} %"
    row = f"| close_drawer | 3/3 | {successes} | {100 * successes / 3:.0f} % | {interval} |"
    assert row in md
    for r in rollouts:  # per-rollout table rows
        assert re.search(
            rf"\| {r['position']} \| close_drawer \| {r['rollout']} \| {r['seed']} \| 0 \| success \|", md
        )
    html = _check_html(report / "report.html")
    assert html.tables >= 3
    assert set(html.images) >= {"plots/success_rates.png", "plots/latency_hist.png"}
    traces = [src for src in html.images if src.startswith("plots/traces_")]
    assert len(traces) == 1  # all succeeded: one success trace for the one task
    for src in html.images:
        _check_png(report / src)
        assert f"]({src})" in md


def test_compare_with_a_baseline_run(scripted_run, tmp_path):
    baseline = tmp_path / "hold"
    code = cli_main.main(
        [
            "eval",
            "sim",
            "--task",
            "close_drawer",
            "--rollouts",
            "2",
            "--out",
            str(baseline),
            "--policy",
            "hold",
            "--no-record",
            "--no-report",
            "--seed",
            "4",
        ]
    )
    assert code == 0
    assert [r["outcome"] for r in _rollouts(baseline)] == [
        "failure",
        "failure",
    ]  # doing nothing never succeeds
    assert [r["end_reason"] for r in _rollouts(baseline)] == ["time_limit", "time_limit"]
    out = tmp_path / "cmp"
    assert cli_main.main(["report", str(scripted_run), "--compare", str(baseline), "--out", str(out)]) == 0
    expected = Comparison.of(3, 3, 0, 2)
    row = json.loads((out / "summary.json").read_text())["comparison"]["rows"][0]
    assert row["task"] == "close_drawer"
    assert row["difference"] == pytest.approx(1.0)
    assert row["p_value"] == pytest.approx(expected.p_value) and row["fisher_p"] == pytest.approx(
        expected.fisher_p
    )
    md = (out / "report.md").read_text()
    assert "## Comparison" in md
    assert f"| {format_p(expected.p_value)} | {format_p(expected.fisher_p)} |" in md
    html = _check_html(out / "report.html")
    for src in html.images:
        _check_png(out / src)
