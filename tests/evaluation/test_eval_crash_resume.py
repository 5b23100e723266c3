"""Killing the runner (SIGKILL) between or during rollouts loses nothing and duplicates nothing."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
from dit4dit_policy.evaluation.report import build_report

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _lines(out):
    path = out / "results.jsonl"
    return path.read_bytes().splitlines(keepends=True) if path.is_file() else []


def _rollout_count(out):
    return sum(1 for line in _lines(out) if b'"type":"rollout"' in line and line.endswith(b"\n"))


def _command(config, out):
    return [
        sys.executable,
        "-m",
        "dit4dit_policy.cli",
        "eval",
        "sim",
        "--policy",
        "hold",
        "--config",
        str(config),
        "--out",
        str(out),
        "--no-report",
    ]


def _run_and_kill(config, out, after_rollouts, extra_wait_s):
    proc = subprocess.Popen(
        _command(config, out), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 240
        while _rollout_count(out) < after_rollouts:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the runner made no progress"
            time.sleep(0.05)
        time.sleep(extra_wait_s)  # land the kill somewhere inside the next rollout
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    return _lines(out)


def test_sigkill_then_resume_loses_and_duplicates_nothing(tmp_path):
    config = tmp_path / "eval.yaml"
    config.write_text(
        "protocol:\n  rollouts_per_task: 5\n  order: shuffled\n  tasks:\n"
        "    - {name: close_drawer, time_limit_s: 0.8}\n    - {name: pick_place, time_limit_s: 0.8}\n"
    )
    out = tmp_path / "results"
    snapshots = []
    for after, wait in ((1, 0.0), (3, 0.4), (6, 0.2)):
        snapshots.append(_run_and_kill(config, out, after, wait))
    result = subprocess.run(_command(config, out), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr

    final = _lines(out)
    for snapshot in snapshots:  # every line on disk at a kill is still there, byte for byte
        assert final[: len(snapshot)] == snapshot
    objects = [json.loads(line) for line in final]
    rollouts = [o for o in objects if o["type"] == "rollout"]
    keys = [(r["task"], r["rollout"]) for r in rollouts]
    assert sorted(keys) == [
        (t, k) for t in ("close_drawer", "pick_place") for k in range(5)
    ]  # each exactly once
    assert sum(o["type"] == "session" for o in objects) == 4
    # Every result's recording is a complete, readable episode; crash leftovers are never referenced.
    ds = LeRobotDataset(out / "recordings")
    episodes = [r["episode_index"] for r in rollouts]
    assert len(set(episodes)) == len(episodes) and None not in episodes
    orphans = {i for o in objects if o["type"] == "note" for i in o.get("orphan_episodes", [])}
    assert set(range(ds.num_episodes)) == set(episodes) | orphans and not set(episodes) & orphans
    for r in rollouts:
        ep = ds.episode(r["episode_index"])
        assert ep.length == round(r["duration_s"] * 30) and ep.task == r["instruction"]
    files = build_report(out, traces=0)
    summary = json.loads(files.summary.read_text())["run"]
    assert summary["complete"] and summary["overall"]["success"]["n"] == 10
