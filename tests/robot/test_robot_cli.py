"""``dit4dit robot check`` against the fake G1 (it commands nothing); a short ``dit4dit bench controller``."""

import dataclasses
import json
import subprocess
import sys
import time

import pytest
from g1_controller_harness import INIT_Q, FakeRobotProcess

from dit4dit_policy.robot.loop import LoopSummary


def dit4dit(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "dit4dit_policy.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def test_robot_check_reads_state_and_commands_nothing(dds_domain, tmp_path):
    robot = FakeRobotProcess(dds_domain, tmp_path / "r.json")
    try:
        time.sleep(0.5)
        result = dit4dit(
            "robot", "check", "--iface", "lo", "--domain", str(dds_domain), "--duration", "1.5", "--json"
        )
        text = dit4dit("robot", "check", "--iface", "lo", "--domain", str(dds_domain), "--duration", "0.5")
    finally:
        report = robot.stop()
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["mode_machine"] == 5 and data["mode_machine_name"] == "g1_29dof_rev_1_0"
    assert data["rate_hz"] > 100 and data["state_age_s"] < 0.5 and data["crc_errors"] == 0
    joints = list(data["joints"].values())
    assert joints[:14] == pytest.approx(INIT_Q, abs=1e-6) and joints[14:] == [None, None]
    assert (
        text.returncode == 0
        and "left_shoulder_pitch_joint" in text.stdout
        and "mode_machine 5" in text.stdout
    )
    assert report["received"] == 0  # robot check never commands


def test_robot_check_reports_missing_and_bad_state(dds_domain, tmp_path):
    result = dit4dit("robot", "check", "--iface", "lo", "--domain", str(dds_domain), "--duration", "0.5")
    assert result.returncode == 1 and "no valid rt/lowstate on domain" in result.stderr
    robot = FakeRobotProcess(dds_domain, tmp_path / "r.json", bad_crc_from=0.0)
    try:
        time.sleep(0.5)
        result = dit4dit("robot", "check", "--iface", "lo", "--domain", str(dds_domain), "--duration", "1")
    finally:
        robot.stop()
    assert result.returncode == 1 and "CRC mismatch" in result.stderr
    bad = dit4dit("robot", "check", "--iface", "eth0; rm", "--duration", "0.5")
    assert bad.returncode == 1 and "network interface" in bad.stderr and "Traceback" not in bad.stderr
    bad = dit4dit("robot", "check", "--iface", "lo", "--domain", "999")
    assert bad.returncode == 1 and "domain id" in bad.stderr


@pytest.mark.slow
def test_bench_controller_short_run(tmp_path, dds_domain):
    result = dit4dit(
        "bench", "controller", "--duration", "1", "--rates", "250", "--no-load", "--domain", str(dds_domain),
        "--json", timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    (rate,) = data["rates"]
    assert rate["rate_hz"] == 250.0 and data["duration_s"] == 1.0 and data["load"] is False
    summary_keys = {f.name for f in dataclasses.fields(LoopSummary)}
    for loop in ("ours", "naive"):
        assert set(rate[loop]) == summary_keys
        assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rate[loop].values())
        assert rate[loop]["target_period_ms"] == pytest.approx(4.0)
        assert rate[loop]["ticks"] > 50 and rate[loop]["period_p50_ms"] > 0
        assert rate[loop]["deviation_p99_ms"] >= 0
    # The reported ratio and verdict follow from the reported numbers (no timing threshold here).
    ours, naive = rate["ours"]["deviation_p99_ms"], rate["naive"]["deviation_p99_ms"]
    assert rate["deviation_ratio"] > 0 and rate["deviation_ratio"] == pytest.approx(naive / max(ours, 1e-6))
    assert data["codec"]["ratio"] > 1
    assert data["target_p99_deviation_ms"] == 0.5
    assert isinstance(data["target_met"], bool) and data["target_met"] == (ours <= 0.5)
    bad = dit4dit("bench", "controller", "--duration", "0")
    assert bad.returncode == 1 and "--duration" in bad.stderr
