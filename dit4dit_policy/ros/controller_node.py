"""Controller node: the G1 controller core behind ROS topics, in its own process without torch.

Wraps :class:`~dit4dit_policy.robot.controller.G1Controller`:

* consumes ``/dit4dit/action_chunk`` (trajectory_msgs/JointTrajectory: 16 named joints, header
  stamp = observation time, points at ``time_from_start``); a message that does not convert to a
  valid :class:`~dit4dit_policy.schema.ActionChunk` is rejected → hold + diagnostic;
* accepts ``start``, ``stop``, ``estop``, ``reset`` on ``/dit4dit/command``;
* publishes the measured 16-D ``/g1/joint_states`` (REP-2003 sensor QoS) and ``/diagnostics``
  (supervisor state and every transition with its reason, loop period statistics, state age and
  rate, latency, safety counters).

Lifecycle: ``activate`` starts the fixed-rate loop (arms stay untouched until ``start``, unless
``controller.auto_start``); ``deactivate`` (also Ctrl-C) is the safety action: operator stop, hold,
ramp to the rest pose, weight 1→0, then the loop stops; ``cleanup`` destroys the subscriptions and
timers and closes the G1 link, so a later ``configure`` starts from a clean node.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.robot.controller import ControllerConfig, G1Controller
from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.graph import LifecycleNode
from dit4dit_policy.ros.launcher import node_main


@dataclasses.dataclass
class ControllerNodeConfig:
    """Parameters of the controller node (``controller_node: ros__parameters:``)."""

    #: the controller core (link, loop, safety, supervisor, scheduler, grippers, gains)
    controller: ControllerConfig = dataclasses.field(default_factory=ControllerConfig)
    #: /g1/joint_states publication rate [Hz]
    joint_state_rate_hz: float = 100.0
    #: /diagnostics period [s]
    diagnostics_period_s: float = 0.5
    #: longest wait for the ramp-out on deactivate [s]
    stop_timeout_s: float = 15.0

    def __post_init__(self) -> None:
        if not 0 < self.joint_state_rate_hz <= 500:
            raise ValueError(f"joint_state_rate_hz must be in (0, 500], got {self.joint_state_rate_hz}")
        if self.diagnostics_period_s <= 0 or self.stop_timeout_s <= 0:
            raise ValueError("diagnostics_period_s and stop_timeout_s must be > 0")


def trajectory_to_chunk(traj: itf.TrajectoryData) -> schema.ActionChunk:
    """JointTrajectory payload → ActionChunk in schema.JOINT_NAMES order.

    Raises:
        ValueError: joint names are not exactly the 16 of the schema, or the chunk is invalid
            (non-finite targets, unsorted times, …; see :class:`schema.ActionChunk`).
    """
    if sorted(traj.joint_names) != sorted(schema.JOINT_NAMES) or len(traj.joint_names) != schema.NUM_JOINTS:
        raise ValueError(
            f"JointTrajectory must name the 16 joints of schema.JOINT_NAMES, got {traj.joint_names}"
        )
    index = {name: i for i, name in enumerate(traj.joint_names)}
    positions = traj.positions[:, [index[n] for n in schema.JOINT_NAMES]]
    if traj.stamp_ns <= 0:
        raise ValueError("JointTrajectory header stamp (observation time) must be set")
    return schema.ActionChunk(
        positions=positions, times_ns=traj.stamp_ns + traj.time_from_start_ns, stamp_ns=traj.stamp_ns
    )


def _level(diag: dict) -> tuple[itf.DiagnosticLevel, str]:
    state = str(diag.get("state", "")).lower()
    if "estop" in state:
        return itf.DiagnosticLevel.ERROR, "emergency stop latched"
    if "hold" in state:
        return itf.DiagnosticLevel.WARN, f"hold: {diag.get('hold_reason') or 'unknown'}"
    if diag.get("tick_errors"):
        return itf.DiagnosticLevel.ERROR, "controller tick errors"
    return itf.DiagnosticLevel.OK, state or "unknown"


def _num(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan"
    return value


class ControllerNode(LifecycleNode):
    """G1 arm controller node (safety layer, supervisor, chunk scheduler, 250 Hz loop)."""

    NAME = "controller_node"
    CONFIG = ControllerNodeConfig

    def on_configure(self) -> bool:
        """Lifecycle ``configure``: build the controller core and the topics."""
        cfg: ControllerNodeConfig = self.config
        self.controller = G1Controller(cfg.controller)
        self._reported_seq = 0  # Transition.seq of the newest transition published on /diagnostics
        self._pub_state = self.graph.create_publisher(
            itf.TOPIC_JOINT_STATES, itf.MsgKind.JOINT_STATE, itf.SENSOR_QOS
        )
        self._pub_diag = self.graph.create_publisher(
            itf.TOPIC_DIAGNOSTICS, itf.MsgKind.DIAGNOSTICS, itf.RELIABLE_QOS
        )
        # Subscriptions and timers, destroyed again in on_cleanup (a cleanup → configure cycle must
        # not leave the old callbacks attached to the node).
        self._handles = [
            self.graph.create_subscription(
                itf.TOPIC_ACTION_CHUNK, itf.MsgKind.JOINT_TRAJECTORY, itf.RELIABLE_QOS, self._on_chunk
            ),
            self.graph.create_subscription(
                itf.TOPIC_COMMAND, itf.MsgKind.STRING, itf.RELIABLE_QOS, self._on_command
            ),
            self.graph.create_timer(1.0 / cfg.joint_state_rate_hz, self._publish_state),
            self.graph.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics),
        ]
        return True

    def on_activate(self) -> bool:
        """Lifecycle ``activate``: connect and start the fixed-rate loop thread."""
        self.controller.start()
        return True

    def on_deactivate(self) -> bool:
        """Lifecycle ``deactivate``: the safety action — stop, ramp out to weight 0, stop the loop."""
        safe = self.controller.stop(ramp_out=True, timeout_s=self.config.stop_timeout_s)
        self._publish_diagnostics()
        if not safe:
            self.logger.error("controller did not reach idle within %.0f s", self.config.stop_timeout_s)
            self.exit_code = 1
        return True

    def on_cleanup(self) -> bool:
        """Lifecycle ``cleanup``: release what ``configure`` created (inverse of :meth:`on_configure`).

        Destroys the subscriptions and timers and closes the G1 link's reader and writer. The loop
        thread is not running here: ``deactivate`` (the only way into ``inactive`` after ``activate``)
        always stops it. The graph interface (:class:`~dit4dit_policy.ros.graph.Publisher`) has no
        way to destroy a publisher, so the two publishers stay (idle: only the destroyed timers and
        ``deactivate`` publish on them).
        """
        for handle in self._handles:
            handle.destroy()
        self._handles = []
        self.controller.loop.stop()  # idempotent; ends a loop thread that outlived deactivate's join
        self.controller.link.close()
        return True

    # Inputs -------------------------------------------------------------------------------------

    def _on_chunk(self, traj: itf.TrajectoryData) -> None:
        try:
            chunk = trajectory_to_chunk(traj)
        except ValueError as exc:
            self.controller.reject_chunk(str(exc))
            self.logger.warning("chunk rejected: %s", exc)
            return
        problem = self.controller.submit_chunk(chunk)
        if problem is not None:
            self.logger.warning("chunk rejected: %s", problem)

    def _on_command(self, command: str) -> None:
        command = command.strip().lower()
        if command not in itf.OPERATOR_COMMANDS:
            self.logger.warning(
                "unknown command %r (expected one of %s)", command, ", ".join(itf.OPERATOR_COMMANDS)
            )
            return
        self.logger.info("operator command: %s", command)
        if command == "estop":
            self.controller.estop()
        else:
            self.controller.command(command)

    # Outputs ------------------------------------------------------------------------------------

    def _publish_state(self) -> None:
        snapshot = self.controller.joint_state()
        if snapshot is None:
            return
        self._pub_state.publish(
            itf.JointStateData(
                names=schema.JOINT_NAMES,
                position=snapshot.positions,
                velocity=np.nan_to_num(snapshot.velocities),
                effort=np.nan_to_num(snapshot.efforts),
                stamp_ns=snapshot.stamp_ns,
            )
        )

    def _new_transitions(self, diag: dict) -> list[itf.DiagnosticStatusData]:
        """One status per transition not yet published (by sequence number, not log position).

        The supervisor's log is bounded; selecting by ``seq`` keeps publishing after it is full. If
        entries fell out of the log before they could be published, one WARN status says how many.
        """
        name = self.graph.node_name
        statuses = []
        new = [tr for tr in diag.get("transitions", []) if tr["seq"] > self._reported_seq]
        count = max(int(diag.get("transition_count", 0)), new[-1]["seq"] if new else 0)
        first = new[0]["seq"] if new else count + 1
        missed = first - self._reported_seq - 1
        if missed > 0:
            statuses.append(
                itf.DiagnosticStatusData(
                    name=f"{name}: transition",
                    level=itf.DiagnosticLevel.WARN,
                    message=f"{missed} transitions dropped out of the log before they were published",
                    values=itf.diagnostic_values({"missed": missed, "first_seq": self._reported_seq + 1}),
                )
            )
        for tr in new:
            statuses.append(
                itf.DiagnosticStatusData(
                    name=f"{name}: transition",
                    level=itf.DiagnosticLevel.WARN if tr.get("fault") else itf.DiagnosticLevel.OK,
                    message=f"{tr.get('from')} -> {tr.get('to')}: {tr.get('reason')}",
                    values=itf.diagnostic_values({k: _num(v) for k, v in tr.items()}),
                )
            )
        self._reported_seq = max(self._reported_seq, count)
        return statuses

    def _publish_diagnostics(self) -> None:
        diag = self.controller.diagnostics()
        name = self.graph.node_name
        statuses = self._new_transitions(diag)
        level, message = _level(diag)
        scalars = {k: _num(v) for k, v in diag.items() if isinstance(v, (int, float, str, bool)) or v is None}
        statuses.append(
            itf.DiagnosticStatusData(
                name=f"{name}: supervisor",
                level=level,
                message=message,
                values=itf.diagnostic_values(scalars),
            )
        )
        loop = diag.get("loop", {})
        statuses.append(
            itf.DiagnosticStatusData(
                name=f"{name}: loop",
                level=itf.DiagnosticLevel.OK,
                message=f"p99 {loop.get('period_p99_ms', float('nan')):.3f} ms",
                values=itf.diagnostic_values({k: _num(v) for k, v in loop.items()}),
            )
        )
        for gname, reading in (diag.get("grippers") or {}).items():
            statuses.append(
                itf.DiagnosticStatusData(
                    name=f"{name}: gripper {gname}",
                    level=itf.DiagnosticLevel.WARN if reading.get("error") else itf.DiagnosticLevel.OK,
                    message=str(reading.get("error") or "ok"),
                    values=itf.diagnostic_values({k: _num(v) for k, v in reading.items()}),
                )
            )
        self._pub_diag.publish(itf.DiagnosticArrayData(status=tuple(statuses), stamp_ns=time.time_ns()))


def main(argv: list[str] | None = None) -> int:
    """``controller_node`` executable."""
    return node_main(ControllerNode, argv)


if __name__ == "__main__":
    raise SystemExit(main())
