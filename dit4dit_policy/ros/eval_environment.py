"""Rollout environments over the node graph for the evaluation protocol (``dit4dit eval``).

:class:`GraphRolloutEnvironment` satisfies
:class:`~dit4dit_policy.evaluation.interface.RolloutEnvironment` by driving the graph's operator
topics (``/dit4dit/command``, ``/dit4dit/task``) through a
:class:`~dit4dit_policy.ros.graph_client.GraphClient`:

* **robot** (``eval real``, next to ``evaluate.launch.py``): the nodes run under ``ros2 launch``;
  the operator resets the scene, the controller ramps in on ``start``, holds on ``stop`` through
  the verdict (``operator_stop_holds``) and ramps out on ``home``;
* **simulation** (``eval sim --graph``): a :class:`~dit4dit_policy.ros.sim_session.SimSession`
  starts the bridge, controller, camera and policy processes; resets and the success predicate
  come from the simulator's status topic.

The controller's state is read from its ``/diagnostics`` (supervisor status, every 0.5 s).
Mapping of the protocol onto the graph:

* ``reset`` — robot: bring the controller to ``idle`` (``stop`` if it is still active);
  simulation: reset the scene. With an e-stop latched it returns at once and leaves it latched:
  :meth:`~GraphRolloutEnvironment.estop_latched` tells the runner, which asks the operator to
  confirm recovery and then calls ``home``.
* ``start`` — ``/dit4dit/task`` + ``start``; returns once the controller runs the policy.
* ``stop`` — ``stop``: the policy's chunks are no longer executed. With
  ``supervisor.operator_stop_holds`` (``evaluate.launch.py`` sets it) the supervisor holds the last
  command until ``home`` — the scene, a grasped object included, stays as the rollout left it while
  the operator judges it; without it the hold lasts ``supervisor.stop_hold_s`` (0.2 s by default)
  and the arms then ramp out to the rest pose, grippers open (docs/evaluation.md, "Judging the
  final scene").
* ``home`` — after an e-stop (this environment's, or one the controller reports) ``reset``, which
  the operator has confirmed (the supervisor stays latched in ESTOP until then); otherwise ``stop``
  while the controller is still active — the second ``stop`` that ends an operator-stop hold (it
  ramps out). Then it waits until the controller is ``idle`` (rest pose, weight 0), repeating
  ``stop`` while the controller reports an operator-stop hold (a ``stop`` that found the controller
  running only started that hold); an e-stop while it waits ends the wait and stays latched.
* ``estop`` — ``estop`` (thread-safe, from the console's key thread).

Recorded frames pair each ego image with the newest measured joint state and the commanded target
of the newest action chunk at the frame's time. Torch-free.
"""

from __future__ import annotations

import logging
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

logger = logging.getLogger(__name__)

#: Supervisor states in which the controller commands the arms on its own way to (or in) a rollout;
#: ``stop`` ends them (RAMP_OUT and IDLE need nothing, ESTOP needs ``reset``).
ACTIVE_STATES = ("wait_state", "ramp_in", "move_to_start", "run", "hold")

#: Shortest interval between the repeated ``stop`` commands while the controller reports an
#: operator-stop hold (``operator_hold`` in its diagnostics, published every 0.5 s) [s].
STOP_REPEAT_S = 1.0


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
        home_timeout_s: longest wait for the controller to become idle in ``home``/``reset`` [s].
        estop_reset_timeout_s: longest wait for the controller to leave ESTOP after ``reset`` [s].
    """

    self_paced = False

    def __init__(
        self,
        client: GraphClient,
        session: SimSession | None = None,
        record: bool = True,
        description: Mapping[str, Any] | None = None,
        home_timeout_s: float = 60.0,
        estop_reset_timeout_s: float = 10.0,
    ) -> None:
        self.client = client
        self.session = session
        self.record = record
        self.home_timeout_s = home_timeout_s
        self.estop_reset_timeout_s = estop_reset_timeout_s
        self._description = dict(description or {})
        self._frames: list[RecordedFrame] = []
        self._frames_lock = threading.Lock()
        self._t0_ns: int | None = None
        self._chunk_id = -1
        self._last_chunks = 0
        # Set by estop() (any thread) until home() sends the `reset` that clears it; the lock keeps
        # "set + publish estop" and "clear + publish reset" atomic, so an e-stop published after
        # the reset is never taken for the one being cleared.
        self._estop_sent = threading.Event()
        self._estop_lock = threading.Lock()
        client.on_frame.append(self._on_frame)

    # -- RolloutEnvironment ------------------------------------------------------------------------------

    def reset(self, task: str, seed: int) -> str | None:
        """Simulation: reset the scene (returns the episode's instruction); robot: wait until idle.

        With an e-stop latched nothing is done (no scene reset, no ``reset`` command): the runner
        sees :meth:`estop_latched`, asks the operator to confirm recovery and calls :meth:`home`.
        """
        self._t0_ns = None
        if self.estop_latched():
            logger.warning("emergency stop latched: waiting for the operator to confirm recovery")
            return None
        if self.session is not None:
            return str(self.session.reset_scene(task, seed).get("instruction") or "") or None
        if self.client.controller_state not in ("idle", ""):
            self._wait_idle(send_stop=True)
        return None

    def start(self, instruction: str) -> None:
        """Send the instruction and ``start``; the rollout clock starts when the policy runs."""
        if self.session is not None:
            self.session.begin(instruction)
        else:
            self.client.task(instruction)
            self.client.command("start")
            # An e-stop during the ramp-in ends the wait; the next poll() reports it.
            self.client.wait(
                lambda: self._estop_sent.is_set() or self.client.controller_state in ("run", "hold", "estop"),
                60.0,
                "the arms to ramp in",
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
        """``stop``: the policy's chunks are no longer executed; the controller holds the arms.

        With ``supervisor.operator_stop_holds`` the hold lasts until :meth:`home` (the operator judges
        the scene as the rollout left it); without it, ``supervisor.stop_hold_s`` (module docstring).
        """
        self._t0_ns = None
        self.client.command("stop")

    def home(self) -> None:
        """Bring the controller to ``idle`` (arms at the rest pose, weight 0), recovering from an e-stop.

        Called by the runner after the operator confirmed recovery when an e-stop is latched: sends
        ``reset`` (ESTOP → RAMP_OUT, or IDLE when nothing was commanded) and waits until the
        controller has left ESTOP; otherwise ``stop`` while the controller is still active. Returns
        early, e-stop latched, when an e-stop happens while it waits (:meth:`estop_latched` is then
        True and the runner asks the operator again).

        Raises:
            TimeoutError: the controller stayed in ESTOP after ``reset``
                (``estop_reset_timeout_s``) or did not become idle (``home_timeout_s``).
        """
        client = self.client
        client.spin(0.05)  # the newest diagnostics
        with self._estop_lock:
            latched = self._estop_sent.is_set() or client.controller_state == "estop"
            self._estop_sent.clear()
            if latched:
                client.command("reset")
        if latched:
            logger.warning("recovering from the emergency stop: reset (the arms ramp out to the rest pose)")
            # Diagnostics may still report the ESTOP the reset cleared; wait until they do not.
            client.wait(
                lambda: self._estop_sent.is_set() or client.controller_state != "estop",
                self.estop_reset_timeout_s,
                "the controller to leave its e-stop after `reset`",
            )
        self._wait_idle(send_stop=not latched)

    def estop_latched(self) -> bool:
        """Whether an e-stop is latched (the runner then asks the operator to confirm recovery).

        True when :meth:`estop` was called and :meth:`home` has not cleared it since, or when the
        controller reports ESTOP (another console, the controller itself, an earlier session).
        """
        if self._estop_sent.is_set():
            return True
        self.client.spin(0.05)
        return self._estop_sent.is_set() or self.client.controller_state == "estop"

    def estop(self) -> None:
        """Emergency stop on /dit4dit/command (thread-safe)."""
        with self._estop_lock:
            self._estop_sent.set()
            self.client.command("estop")

    def _wait_idle(self, send_stop: bool) -> None:
        """``stop`` if the controller is still active (``send_stop``), then wait until it is idle.

        With ``send_stop``, ``stop`` is repeated (at most every :data:`STOP_REPEAT_S`) while the
        controller reports an operator-stop hold (``supervisor.operator_stop_holds``): a ``stop``
        that found it running (not yet holding) only starts that hold, the next one ramps out, and
        further ones are ignored in RAMP_OUT and IDLE. Returns early, leaving it latched, on an e-stop.
        """
        client = self.client
        last_stop = -float("inf")
        if send_stop and client.controller_state in ACTIVE_STATES:
            client.command("stop")
            last_stop = time.monotonic()

        def done() -> bool:
            nonlocal last_stop
            if self._estop_sent.is_set() or client.controller_state in ("idle", "estop"):
                return True
            if send_stop and client.controller.get("operator_hold") == "True":
                now = time.monotonic()
                if now - last_stop >= STOP_REPEAT_S:
                    client.command("stop")
                    last_stop = now
            return False

        client.wait(done, self.home_timeout_s, "the arms to ramp out to the rest pose (controller idle)")

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
