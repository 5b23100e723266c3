"""Rollout environments over the node graph for the evaluation protocol (``dit4dit eval``).

:class:`GraphRolloutEnvironment` satisfies
:class:`~dit4dit_policy.evaluation.interface.RolloutEnvironment` by driving the graph's operator
topics (``/dit4dit/command``, ``/dit4dit/task``) through a
:class:`~dit4dit_policy.ros.graph_client.GraphClient`:

* **robot** (``eval real``, ``evaluate.launch.py``): the nodes run under ``ros2 launch``; the
  operator resets the scene, the controller ramps in on ``start`` and out on ``stop``;
* **simulation** (``eval sim --graph``): a :class:`~dit4dit_policy.ros.sim_session.SimSession`
  starts the bridge, controller, camera and policy processes; resets and the success predicate
  come from the simulator's status topic.

Recorded frames pair each ego image with the newest measured joint state and the commanded target
of the newest action chunk at the frame's time. ``stop()`` sends ``stop``: the controller holds,
then ramps the arms to the rest pose with the weight going to 0 (the scene is left as it is for the
operator's verdict); ``home()`` waits until it is idle. Torch-free.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.evaluation.interface import Phase, RecordedFrame, RolloutStatus
from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.graph_client import GraphClient
from dit4dit_policy.ros.policy_node import reorder
from dit4dit_policy.ros.sim_session import SimSession, SimSessionConfig


def chunk_target_at(chunk: itf.TrajectoryData, stamp_ns: int) -> np.ndarray:
    """(16,) commanded target of ``chunk`` at ``stamp_ns`` (linear interpolation, clamped to its ends)."""
    times = chunk.stamp_ns + chunk.time_from_start_ns
    positions = reorder(chunk, schema.JOINT_NAMES)
    return np.array([np.interp(stamp_ns, times, positions[:, j]) for j in range(schema.NUM_JOINTS)])


class GraphRolloutEnvironment:
    """The protocol's environment on a running node graph.

    Args:
        client: operator-side participant on the graph's domain.
        session: the simulated graph (None on the robot).
        record: collect RecordedFrames for the rollout recordings.
        description: settings for the results fingerprint.
    """

    self_paced = False

    def __init__(
        self,
        client: GraphClient,
        session: SimSession | None = None,
        record: bool = True,
        description: Mapping[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.session = session
        self.record = record
        self._description = dict(description or {})
        self._frames: list[RecordedFrame] = []
        self._frames_lock = threading.Lock()
        self._t0_ns: int | None = None
        self._chunk_id = -1
        self._last_chunks = 0
        client.on_frame.append(self._on_frame)

    # -- RolloutEnvironment ------------------------------------------------------------------------------

    def reset(self, task: str, seed: int) -> str | None:
        """Simulation: reset the scene (returns the episode's instruction); robot: wait until idle."""
        self._t0_ns = None
        if self.session is not None:
            return str(self.session.reset_scene(task, seed).get("instruction") or "") or None
        if self.client.controller_state not in ("idle", ""):
            self.home()
        return None

    def start(self, instruction: str) -> None:
        """Send the instruction and ``start``; the rollout clock starts when the policy runs."""
        if self.session is not None:
            self.session.begin(instruction)
        else:
            self.client.task(instruction)
            self.client.command("start")
            self.client.wait(
                lambda: self.client.controller_state in ("run", "hold"), 60.0, "the arms to ramp in"
            )
        with self._frames_lock:
            self._frames.clear()
        self._last_chunks = self.client.chunks_seen
        self._t0_ns = time.time_ns()

    def poll(self) -> RolloutStatus:
        """Process topics for a moment and report the phase (success from the simulator's predicate)."""
        client = self.client
        client.spin(0.05)
        elapsed = (time.time_ns() - (self._t0_ns or time.time_ns())) / 1e9
        latencies = []
        if client.chunks_seen > self._last_chunks:
            latency = client.policy.get("latency_ms")
            if latency not in (None, "nan"):
                latencies = [float(latency)] * (client.chunks_seen - self._last_chunks)
            self._last_chunks = client.chunks_seen
        with self._frames_lock:
            frames, self._frames = self._frames, []
        phase, reason = Phase.RUNNING, ""
        state = client.controller_state
        if state == "estop":
            phase, reason = Phase.FAULT, "emergency stop"
        elif state in ("idle", "ramp_out"):
            phase, reason = (
                Phase.FAULT,
                f"controller stopped the arms: {client.controller.get('hold_reason')}",
            )
        elif self.session is not None and client.status.get("success"):
            phase, reason = Phase.SUCCESS, "task predicate"
        metrics = client.status.get("metrics") if self.session is not None else None
        return RolloutStatus(
            phase=phase,
            elapsed_s=elapsed,
            frames=frames,
            chunk_latencies_ms=latencies,
            reason=reason,
            metrics={k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float))},
        )

    def stop(self) -> None:
        """``stop``: the policy's chunks are no longer executed; the controller holds then ramps out."""
        self._t0_ns = None
        self.client.command("stop")

    def home(self) -> None:
        """Wait until the controller has ramped out (rest pose, weight 0) and is idle."""
        self.client.wait(lambda: self.client.controller_state == "idle", 60.0, "the arms to ramp out")

    def estop(self) -> None:
        """Emergency stop on /dit4dit/command (thread-safe)."""
        self.client.command("estop")

    def close(self) -> None:
        """Stop the simulated graph, or leave the robot graph running."""
        if self.session is not None:
            self.session.close()
        else:
            self.client.close()

    def describe(self) -> dict[str, Any]:
        """Settings that define the experiment (hashed into the results fingerprint)."""
        return dict(self._description)

    # -- recording ---------------------------------------------------------------------------------------

    def _on_frame(self, frame: itf.ImageFrame) -> None:
        if not self.record or self._t0_ns is None:
            return
        state, chunk = self.client.joint_state, self.client.chunk
        if state is None or chunk is None:
            return
        try:
            q = reorder(state, schema.JOINT_NAMES)
            action = chunk_target_at(chunk, frame.stamp_ns)
        except ValueError:
            return
        recorded = RecordedFrame(
            image=np.array(frame.rgb),
            state=q.astype(np.float64),
            action=action,
            time_s=max(0.0, (frame.stamp_ns - self._t0_ns) / 1e9),
            chunk_id=self.client.chunks_seen,
            chunk_latency_ms=float(self.client.policy.get("latency_ms", 0.0) or 0.0)
            if self.client.policy.get("latency_ms") not in ("nan",)
            else 0.0,
        )
        with self._frames_lock:
            self._frames.append(recorded)


def make_environment(config: Any, checkpoint: str | Path) -> GraphRolloutEnvironment:
    """``dit4dit eval real --environment graph``: the robot graph started by ``ros2 launch``.

    The DDS domain and interface come from ``ROS_DOMAIN_ID`` (default 0) and ``DIT4DIT_NET_IFACE``
    (default: ``CYCLONEDDS_URI`` or Cyclone's default).
    """
    domain = int(os.environ.get("ROS_DOMAIN_ID", "0"))
    client = GraphClient(domain, interface=os.environ.get("DIT4DIT_NET_IFACE") or None)
    client.wait(lambda: client.controller_state != "", 30.0, "the controller node's diagnostics")
    return GraphRolloutEnvironment(
        client, record=config.recording.enabled, description={"environment": "graph-real", "domain": domain}
    )


def make_sim_graph_environment(
    config: Any, policy: str, device: str, out_dir: str | Path, domain_id: int
) -> GraphRolloutEnvironment:
    """``dit4dit eval sim --graph``: the simulated node graph as processes (logs under ``out_dir/logs``).

    Args:
        config: the evaluation config (first task, image size, recording).
        policy: ``scripted`` or a checkpoint directory.
        device: torch device of the policy.
        out_dir: output directory of the evaluation.
        domain_id: private DDS domain (loopback).
    """
    checkpoint = "" if policy == "scripted" else str(Path(policy).resolve())
    session_config = SimSessionConfig(
        task=config.protocol.tasks[0].name,
        policy="scripted" if policy == "scripted" else "checkpoint",
        checkpoint=checkpoint,
        out_dir=Path(out_dir),
        domain_id=domain_id,
        device=device,
        record_video=False,
        image_width=config.sim.image_width,
        image_height=config.sim.image_height,
    )
    session = SimSession(session_config)
    try:
        session.start()
    except BaseException:
        session.close()
        raise
    assert session.client is not None
    return GraphRolloutEnvironment(
        session.client,
        session=session,
        record=config.recording.enabled,
        description={
            "environment": "graph-sim",
            "image_size": [config.sim.image_width, config.sim.image_height],
        },
    )
