"""The whole node graph as processes against the MuJoCo G1 over loopback DDS (issue: node graph).

Simulator bridge + controller + camera + policy run as separate processes; an independent monitor
checks every arm command on the wire. Covered: a rollout with the tiny-preset DiT4DiT checkpoint
(random weights: it only has to run, not succeed), the scripted expert through the same graph,
killing the policy mid-rollout (hold, then ramp-out) and a stale camera stream (no new chunks).
"""

import json
import os
import signal
import time

import numpy as np
import pytest

from dit4dit_policy.ros.sim_session import SimSession, SimSessionConfig

pytestmark = pytest.mark.slow

TASK = "close_drawer"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from dit4dit_policy import schema
    from dit4dit_policy.data.transforms import FeatureStats, NormStats
    from dit4dit_policy.model.build import build_policy
    from dit4dit_policy.model.checkpoint import save_checkpoint
    from dit4dit_policy.model.config import preset_config
    from dit4dit_policy.sim.env import READY_STATE

    ready = np.asarray(READY_STATE, dtype=np.float64)
    low = np.maximum(ready - 0.1, schema.POSITION_LOWER)
    high = np.minimum(ready + 0.1, schema.POSITION_UPPER)
    feature = FeatureStats(low, high, ready, np.full(16, 0.05), low, high, count=100)
    policy = build_policy(preset_config("tiny"), NormStats(state=feature, action=feature), "g1_16dof")
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    save_checkpoint(policy, path, prompts=["push the drawer closed"])
    return path


def _config(tmp_path, dds_domain, **kw):
    base = dict(
        task=TASK, rollouts=1, out_dir=tmp_path / "run", domain_id=dds_domain, startup_timeout_s=180.0
    )
    base.update(kw)
    return SimSessionConfig(**base)


def _state_history(session, seconds, until=None):
    states = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        session.client.graph.spin_once(0.05)
        state = session.client.controller_state
        if not states or states[-1] != state:
            states.append(state)
        if until is not None and until(state):
            break
    return states


def test_tiny_checkpoint_rollout_through_the_graph(tmp_path, dds_domain, tiny_checkpoint):
    config = _config(tmp_path, dds_domain, policy="checkpoint", checkpoint=str(tiny_checkpoint))
    with SimSession(config) as session:
        results = session.run()
    codes = {p.name: p.returncode for p in session.group.processes}
    assert codes == {"sim": 0, "controller": 0, "camera": 0, "policy": 0}, codes
    assert len(results) == 1
    result = results[0]
    assert result.chunks > 0 and result.commands > 100
    assert result.inference_ms is not None and result.inference_ms > 0
    assert session.monitor.violations == [], session.monitor.violations
    data = json.loads((config.out_dir / "results.json").read_text())
    assert data["rollouts"][0]["seed"] == 0 and data["safety_violations"] == 0
    video = config.out_dir / result.video
    assert video.is_file() and video.stat().st_size > 1000


def test_scripted_expert_through_the_graph(tmp_path, dds_domain):
    config = _config(tmp_path, dds_domain, policy="scripted", record_video=False)
    with SimSession(config) as session:
        result = session.rollout(0, 3)
    assert result.chunks > 0
    assert session.monitor.violations == [], session.monitor.violations
    assert all(p.returncode == 0 for p in session.group.processes)
    print(f"scripted close_drawer through the graph: success={result.success} in {result.duration_s} s")


def _start_rollout(session, seed=1):
    status = session.reset_scene(TASK, seed)
    session.begin(str(status["instruction"]))
    session.client.wait(lambda: session.client.controller_state == "run", 60.0, "the controller to run")


def _kill(session, name):
    proc = next(p for p in session.group.processes if p.name == name)
    os.killpg(proc.popen.pid, signal.SIGKILL)
    proc.popen.wait(timeout=10)


def test_killing_the_policy_ends_in_hold_then_ramp_out(tmp_path, dds_domain):
    config = _config(tmp_path, dds_domain, policy="scripted", record_video=False)
    session = SimSession(config)
    try:
        session.__enter__()
        _start_rollout(session)
        _state_history(session, 1.0)
        _kill(session, "policy")
        states = _state_history(session, 20.0, until=lambda s: s == "idle")
    finally:
        session.close()
    assert "hold" in states and "ramp_out" in states and states[-1] == "idle", states
    assert states.index("hold") < states.index("ramp_out")
    assert session.monitor.violations == [], session.monitor.violations
    codes = {p.name: p.returncode for p in session.group.processes}
    assert codes["controller"] == 0 and codes["sim"] == 0 and codes["policy"] == -signal.SIGKILL


def test_stale_camera_stream_stops_new_chunks(tmp_path, dds_domain):
    config = _config(tmp_path, dds_domain, policy="scripted", record_video=False)
    session = SimSession(config)
    try:
        session.__enter__()
        _start_rollout(session)
        _state_history(session, 1.0)
        _kill(session, "camera")
        _state_history(session, 1.5)  # frames in flight and the last chunk drain
        chunks_after_kill = session.client.policy_count("chunks")
        states = _state_history(session, 15.0, until=lambda s: s == "idle")
        chunks_later = session.client.policy_count("chunks")
        stale = session.client.policy_count("skipped_stale_frame")
    finally:
        session.close()
    assert chunks_later == chunks_after_kill, (chunks_after_kill, chunks_later)
    assert stale > 0
    assert "ramp_out" in states and states[-1] == "idle", states
    assert session.monitor.violations == [], session.monitor.violations


def test_controller_process_stalls_cause_no_violation(tmp_path, dds_domain):
    """SIGSTOP/SIGCONT the controller (0.3 s freezes) through a rollout and its ramp-out."""
    import threading

    config = _config(tmp_path, dds_domain, policy="scripted", record_video=False)
    session = SimSession(config)
    stop = threading.Event()
    try:
        session.__enter__()
        pid = next(p for p in session.group.processes if p.name == "controller").popen.pid

        def stutter():
            while not stop.is_set():
                os.kill(pid, signal.SIGSTOP)
                time.sleep(0.3)
                os.kill(pid, signal.SIGCONT)
                stop.wait(0.4)

        for seed in (1, 2):
            _start_rollout(session, seed)
            thread = threading.Thread(target=stutter)
            stop.clear()
            thread.start()
            try:
                _state_history(session, 1.5)
                session.end()
            finally:
                stop.set()
                thread.join()
    finally:
        stop.set()
        session.close()
    assert session.monitor.commands > 500
    assert session.monitor.violations == [], session.monitor.violations
