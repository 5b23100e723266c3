"""The operator side of the node graph: commands out, status in (used by ``dit4dit sim`` and evaluations).

A :class:`GraphClient` is one participant on the graph's domain. It publishes operator commands
(``/dit4dit/command``), instructions (``/dit4dit/task``) and simulator commands
(``/dit4dit/sim/command``), and keeps the latest controller and policy diagnostics, simulator
status, joint state, action chunk and camera frame, so callers can wait on conditions. Callbacks
run on the thread that calls :meth:`spin`/:meth:`wait`; ``on_frame`` hooks see every frame.
Torch-free.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.dds_backend.graph import DdsGraph

logger = logging.getLogger(__name__)

SIM_COMMAND_TOPIC = "/dit4dit/sim/command"
SIM_STATUS_TOPIC = "/dit4dit/sim/status"


class GraphClient:
    """Operator-side participant of the node graph.

    Args:
        domain_id: DDS domain of the graph.
        interface: NIC, ``lo`` (loopback only) or None (CYCLONEDDS_URI).
        liveness_check: called while waiting (e.g. raising when a child process died).
    """

    def __init__(
        self, domain_id: int, interface: str | None = "lo", liveness_check: Callable[[], None] | None = None
    ) -> None:
        self.graph = graph = DdsGraph("dit4dit_operator", domain_id, interface=interface)
        self._check = liveness_check or (lambda: None)
        self._lock = threading.Lock()
        self.status: dict[str, Any] = {}
        self.controller: dict[str, str] = {}
        self.policy: dict[str, str] = {}
        self.joint_state: itf.JointStateData | None = None
        self.chunk: itf.TrajectoryData | None = None
        self.chunks_seen = 0
        self.frames = 0
        self.holds = 0
        self.on_frame: list[Callable[[itf.ImageFrame], None]] = []
        self._command = graph.create_publisher(itf.TOPIC_COMMAND, itf.MsgKind.STRING, itf.RELIABLE_QOS)
        self._task = graph.create_publisher(itf.TOPIC_TASK, itf.MsgKind.STRING, itf.RELIABLE_QOS)
        self._sim = graph.create_publisher(SIM_COMMAND_TOPIC, itf.MsgKind.STRING, itf.RELIABLE_QOS)
        graph.create_subscription(SIM_STATUS_TOPIC, itf.MsgKind.STRING, itf.RELIABLE_QOS, self._on_status)
        graph.create_subscription(
            itf.TOPIC_DIAGNOSTICS, itf.MsgKind.DIAGNOSTICS, itf.RELIABLE_QOS, self._on_diag
        )
        graph.create_subscription(itf.TOPIC_IMAGE, itf.MsgKind.IMAGE, itf.SENSOR_QOS, self._on_image)
        graph.create_subscription(
            itf.TOPIC_JOINT_STATES, itf.MsgKind.JOINT_STATE, itf.SENSOR_QOS, self._on_state
        )
        graph.create_subscription(
            itf.TOPIC_ACTION_CHUNK, itf.MsgKind.JOINT_TRAJECTORY, itf.RELIABLE_QOS, self._on_chunk
        )

    # -- outputs --------------------------------------------------------------------------------------

    def command(self, text: str) -> None:
        """Operator command: start, stop, estop or reset (thread-safe)."""
        with self._lock:
            self._command.publish(text)

    def task(self, instruction: str) -> None:
        """Publish the instruction on /dit4dit/task."""
        with self._lock:
            self._task.publish(instruction)

    def sim_command(self, text: str) -> None:
        """Simulator command, e.g. ``reset pick_place 3`` (docs/simulation.md)."""
        with self._lock:
            self._sim.publish(text)

    # -- inputs ---------------------------------------------------------------------------------------

    def _on_status(self, text: str) -> None:
        try:
            self.status = json.loads(text)
        except json.JSONDecodeError:
            logger.warning("unparseable simulator status: %r", text[:80])

    def _on_diag(self, array: itf.DiagnosticArrayData) -> None:
        for status in array.status:
            if status.name.endswith(": supervisor"):
                if self.controller.get("state") != "hold" and status.values.get("state") == "hold":
                    self.holds += 1
                self.controller = dict(status.values)
            elif status.name.endswith(": inference"):
                self.policy = dict(status.values)

    def _on_image(self, frame: itf.ImageFrame) -> None:
        self.frames += 1
        for hook in self.on_frame:
            hook(frame)

    def _on_state(self, state: itf.JointStateData) -> None:
        self.joint_state = state

    def _on_chunk(self, chunk: itf.TrajectoryData) -> None:
        self.chunk = chunk
        self.chunks_seen += 1

    @property
    def controller_state(self) -> str:
        """Supervisor state from the controller's diagnostics ('' before the first)."""
        return self.controller.get("state", "")

    def policy_count(self, key: str) -> int:
        """An integer counter of the policy node's diagnostics (0 before the first)."""
        try:
            return int(float(self.policy.get(key, 0) or 0))
        except ValueError:
            return 0

    # -- waiting --------------------------------------------------------------------------------------

    def spin(self, seconds: float) -> None:
        """Process callbacks for ``seconds`` (calling the liveness check)."""
        end = time.monotonic() + seconds
        while True:
            self._check()
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            self.graph.spin_once(min(0.05, remaining))

    def wait(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Process callbacks until ``predicate()`` holds.

        Raises:
            TimeoutError: naming ``what`` after ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while not predicate():
            self._check()
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
            self.graph.spin_once(0.05)

    def close(self) -> None:
        """Detach the subscriptions."""
        self.graph.close()
