"""Teleop node: the WebXR pose server + IK retargeting, publishing short action chunks.

Each tick at ``rate_hz`` (60 Hz default) the newest headset pose becomes a 16-D absolute target
(:class:`~dit4dit_policy.teleop.retarget.Retargeter`: calibration, deadman, clutched pose mapping,
IK with joint limits and clearance, grippers). While an arm is engaged the node publishes the
target as a short chunk on ``/dit4dit/action_chunk`` — ``chunk_points`` points, all equal to the
target, at ``k·chunk_dt_s`` from a header stamp of *now* — so teleop commands go through the same
controller node, chunk scheduler and safety filter as the policy's. When the deadman is released it
publishes the held target (immediately, then at ``idle_hold_hz`` while the headset stays connected,
so the controller holds instead of timing out); when the headset stream goes stale it stops
publishing and the controller's stale-chunk watchdog holds and ramps out. ``stop``/``estop`` on
``/dit4dit/command`` release both arms and silence the node until the operator lets go of the
deadman and presses it again.

Topics: subscribes ``/g1/joint_states`` (seeds the IK), ``/dit4dit/command``; publishes
``/dit4dit/action_chunk`` (reliable) and ``/diagnostics`` (XR rate, loop latency, engaged arms,
IK residual). Torch-free.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.graph import LifecycleNode
from dit4dit_policy.ros.launcher import node_main
from dit4dit_policy.teleop.retarget import RetargetConfig, Retargeter, RetargetResult
from dit4dit_policy.teleop.server import ServerConfig, TeleopServer
from dit4dit_policy.teleop.session import PoseLog, TeleopSession


@dataclasses.dataclass
class TeleopNodeConfig:
    """Parameters of the teleop node (``teleop_node: ros__parameters:``).

    Attributes:
        server: where the HTTPS/WSS server listens (host, port, token, certificate).
        retarget: operator-to-robot mapping, deadman, grippers, IK.
        rate_hz: retargeting and publishing rate [Hz] (≥ the 30 Hz dataset rate; headsets send
            72-120 Hz).
        chunk_points: points per published chunk (the held target repeated); 8 points at 1/30 s
            span 233 ms, so a tick delayed by a loaded CPU does not let the controller's
            trajectory run out (which would flip it into HOLD) before the next chunk.
        chunk_dt_s: spacing of the chunk points [s] (the policy's 1/30 s).
        pose_log: JSON-lines file to append every received pose message to ('' = off).
        url_file: file the page URL (with the token) is written to at start, mode 0600 ('' = off).
        idle_hold_hz: while the deadman is released but the headset is connected, the held target
            is republished at this rate [Hz], so the controller keeps holding instead of timing
            out into a ramp-out; 0 = publish one hold chunk, then nothing.
        diagnostics_period_s: diagnostics period [s].
    """

    server: ServerConfig = dataclasses.field(default_factory=ServerConfig)
    retarget: RetargetConfig = dataclasses.field(default_factory=RetargetConfig)
    rate_hz: float = 60.0
    chunk_points: int = 8
    chunk_dt_s: float = schema.ACTION_DT_S
    pose_log: str = ""
    url_file: str = ""
    idle_hold_hz: float = 5.0
    diagnostics_period_s: float = 1.0

    def __post_init__(self) -> None:
        if not 10.0 <= self.rate_hz <= 500.0:
            raise ValueError(f"rate_hz must be in [10, 500] Hz, got {self.rate_hz}")
        if not 1 <= self.chunk_points <= schema.ACTION_HORIZON:
            raise ValueError(f"chunk_points must be in [1, {schema.ACTION_HORIZON}], got {self.chunk_points}")
        if not 0.001 <= self.chunk_dt_s <= 0.2:
            raise ValueError(f"chunk_dt_s must be in [0.001, 0.2] s, got {self.chunk_dt_s}")
        if not 0.0 <= self.idle_hold_hz <= 60.0:
            raise ValueError(f"idle_hold_hz must be in [0, 60] Hz, got {self.idle_hold_hz}")
        if self.diagnostics_period_s <= 0:
            raise ValueError(f"diagnostics_period_s must be > 0, got {self.diagnostics_period_s}")


def hold_chunk(target: np.ndarray, stamp_ns: int, points: int, dt_s: float) -> itf.TrajectoryData:
    """A chunk holding ``target`` (16,) for ``points`` points spaced ``dt_s`` [s] from ``stamp_ns``."""
    offsets = np.round(np.arange(points) * dt_s * 1e9).astype(np.int64)
    return itf.TrajectoryData(
        joint_names=schema.JOINT_NAMES,
        positions=np.repeat(np.asarray(target, dtype=np.float64)[None, :], points, axis=0),
        time_from_start_ns=offsets,
        stamp_ns=int(stamp_ns),
    )


def joint_vector(state: itf.JointStateData) -> np.ndarray | None:
    """The 16-D vector of a JointState in schema order (None if a joint is missing)."""
    index = {name: i for i, name in enumerate(state.names)}
    if len(state.position) != len(state.names) or any(n not in index for n in schema.JOINT_NAMES):
        return None
    return np.array([state.position[index[n]] for n in schema.JOINT_NAMES], dtype=np.float64)


class TeleopNode(LifecycleNode):
    """VR teleoperation node (configure starts the server, activate starts publishing)."""

    NAME = "teleop_node"
    CONFIG = TeleopNodeConfig

    def on_configure(self) -> bool:
        """Lifecycle ``on_configure``: build the IK, start the HTTPS/WSS server."""
        cfg: TeleopNodeConfig = self.config
        self._pose_log = PoseLog(cfg.pose_log) if cfg.pose_log else None
        self._server = TeleopServer(cfg.server, on_frame=self._pose_log)
        self._session = TeleopSession(self._server, Retargeter(cfg.retarget))
        self._q_measured: np.ndarray | None = None
        self._active = False
        self._in_control = False
        self._held_once = False
        self._last_publish = 0.0
        self._chunks = 0
        self._last_result: RetargetResult | None = None
        self._pub_chunk = self.graph.create_publisher(
            itf.TOPIC_ACTION_CHUNK, itf.MsgKind.JOINT_TRAJECTORY, itf.RELIABLE_QOS
        )
        self._pub_diag = self.graph.create_publisher(
            itf.TOPIC_DIAGNOSTICS, itf.MsgKind.DIAGNOSTICS, itf.RELIABLE_QOS
        )
        self._subs = [
            self.graph.create_subscription(
                itf.TOPIC_JOINT_STATES, itf.MsgKind.JOINT_STATE, itf.SENSOR_QOS, self._on_joint_state
            ),
            self.graph.create_subscription(
                itf.TOPIC_COMMAND, itf.MsgKind.STRING, itf.RELIABLE_QOS, self._on_command
            ),
        ]
        self._server.start()
        self.logger.info("open %s on the headset (accept the certificate once)", self._server.url)
        if cfg.url_file:
            self._write_url(cfg.url_file)
        self._timer = self.graph.create_timer(1.0 / cfg.rate_hz, self._tick)
        self._diag_timer = self.graph.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics)
        return True

    def _write_url(self, path: str) -> None:
        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self._server.url + "\n")
        os.replace(tmp, target)

    def on_activate(self) -> bool:
        """Lifecycle ``on_activate``: publish chunks while an arm is engaged."""
        self._active = True
        return True

    def on_deactivate(self) -> bool:
        """Lifecycle ``on_deactivate``: release both arms and publish a hold."""
        self._active = False
        self._session.retargeter.release_all(require_repress=True)
        self._publish_hold()
        self._in_control = False
        return True

    def on_cleanup(self) -> bool:
        """Lifecycle ``on_cleanup``: stop the server."""
        self._timer.destroy()
        self._diag_timer.destroy()
        for sub in self._subs:
            sub.destroy()
        self._server.stop()
        if self._pose_log is not None:
            self._pose_log.close()
        return True

    def on_shutdown(self) -> None:
        """Lifecycle ``on_shutdown``."""
        server = getattr(self, "_server", None)
        if server is not None:
            server.stop()

    # ------------------------------------------------------------------ callbacks

    def _on_joint_state(self, state: itf.JointStateData) -> None:
        q = joint_vector(state)
        if q is not None and np.all(np.isfinite(q)):
            self._q_measured = q

    def _on_command(self, command: str) -> None:
        if command.strip() in ("stop", "estop"):
            self._session.retargeter.release_all(require_repress=True)
            self._in_control = False
            self.logger.info("'%s' received: arms released until the deadman is pressed again", command)

    def _publish(self, target: np.ndarray) -> None:
        self._pub_chunk.publish(
            hold_chunk(target, self.graph.now_ns(), self.config.chunk_points, self.config.chunk_dt_s)
        )
        self._chunks += 1
        self._last_publish = time.monotonic()

    def _publish_hold(self) -> None:
        result = self._last_result
        if result is not None and self._in_control:
            self._publish(result.target)

    def _tick(self) -> None:
        if self._q_measured is None and not self._session.retargeter.seeded:
            return
        # while this node commands the arms it holds its own last target; otherwise it follows the
        # measured state, so the next engagement starts where the robot is
        measured = None if self._in_control else self._q_measured
        result = self._session.tick(1.0 / self.config.rate_hz, measured)
        self._q_measured = None
        self._last_result = result
        if not self._active:
            return
        if result.any_engaged:
            self._publish(result.target)
            self._in_control = True
        elif self._in_control and result.frame is None:
            # the headset went away: stop publishing, the controller's stale watchdog takes over
            self._in_control = False
            self.logger.warning("headset stream stale: releasing the arms to the controller's watchdog")
        elif self._in_control:
            hold_period = 1.0 / self.config.idle_hold_hz if self.config.idle_hold_hz > 0 else math.inf
            if not self._held_once or time.monotonic() - self._last_publish >= hold_period:
                self._publish(result.target)  # released deadman: hold the last target
        self._held_once = not result.any_engaged
        self._session.applied(result)

    def _publish_diagnostics(self) -> None:
        stats = self._server.stats()
        session = self._session.stats()
        result = self._last_result
        engaged = [] if result is None else result.status()["engaged"]
        if not stats.connected:
            level, message = itf.DiagnosticLevel.WARN, "no headset connected"
        elif not self._session.retargeter.seeded:
            level, message = itf.DiagnosticLevel.WARN, "waiting for /g1/joint_states"
        else:
            level, message = itf.DiagnosticLevel.OK, "engaged" if engaged else "connected, holding"
        values = {
            "connected": stats.connected,
            "xr_rate_hz": stats.rate_hz,
            "pose_messages": stats.frames,
            "loop_latency_ms": stats.client_latency_ms,
            "server_ms_p50": session.server_ms_p50,
            "server_ms_max": session.server_ms_max,
            "engaged": ",".join(engaged) or "none",
            "calibrated": bool(result.calibrated) if result is not None else False,
            "ik_error_mm_max": session.ik_error_mm_max,
            "chunks": self._chunks,
            "rejected_connections": stats.rejected,
            "protocol_errors": stats.protocol_errors,
        }
        status = itf.DiagnosticStatusData(
            name=f"{self.graph.node_name}: xr teleop",
            level=level,
            message=message,
            values=itf.diagnostic_values(values),
        )
        self._pub_diag.publish(itf.DiagnosticArrayData(status=(status,), stamp_ns=self.graph.now_ns()))


def main(argv: list[str] | None = None) -> int:
    """``teleop_node`` executable."""
    return node_main(TeleopNode, argv)


if __name__ == "__main__":
    raise SystemExit(main())
