"""``dit4dit sim`` as a command: a scripted rollout end to end, a node that dies, a bad checkpoint.

The graph itself (SimSession) is covered in test_sim_graph.py; these run the console command as a
user does and check its exit code, its output and what it writes.
"""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _sim(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "dit4dit_policy.cli", "sim", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_scripted_rollout_exits_0_and_writes_results(tmp_path, dds_domain):
    out = tmp_path / "run"
    result = _sim(
        "--policy",
        "scripted",
        "--rollouts",
        "1",
        "--no-video",
        "--out",
        str(out),
        "--domain-id",
        str(dds_domain),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rollout 1/1 seed 0: SUCCESS" in result.stdout
    assert "safety violations 0" in result.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["policy"] == "scripted" and results["successes"] == 1
    assert len(results["rollouts"]) == 1 and results["rollouts"][0]["success"] is True
    assert {p.name for p in (out / "logs").iterdir()} >= {
        "sim.log",
        "controller.log",
        "camera.log",
        "policy.log",
    }


def test_a_node_that_dies_stops_the_graph_and_exits_1(tmp_path, dds_domain):
    # An existing but empty directory passes the command's own check; the policy node then fails
    # to load it during configure and exits, which must end the whole graph with a clear message.
    broken = tmp_path / "not_a_checkpoint"
    broken.mkdir()
    out = tmp_path / "run"
    result = _sim("--checkpoint", str(broken), "--out", str(out), "--domain-id", str(dds_domain))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "dit4dit: error: policy exited with code" in result.stderr
    assert str(out / "logs" / "policy.log") in result.stderr
    assert "Traceback" not in result.stderr.split("dit4dit: error:")[0]


def test_missing_checkpoint_is_refused_before_anything_starts(tmp_path):
    out = tmp_path / "run"
    result = _sim("--checkpoint", str(tmp_path / "nope"), "--out", str(out), timeout=60)
    assert result.returncode == 1
    assert "--checkpoint" in result.stderr and "not a checkpoint directory" in result.stderr
    assert not (out / "logs").exists()
