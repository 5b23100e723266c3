"""Simulator bridge node: the MuJoCo G1 as one process of the node graph.

Wraps :class:`~dit4dit_policy.sim.bridge.SimBridge`.
The bridge speaks the robot's DDS protocol (``rt/lowstate``, ``rt/arm_sdk``, Dex1 grippers,
reset/status topics; docs/simulation.md). This node adds what the ROS side needs:

* rendered ego frames published as ``sensor_msgs/Image`` on ``/sim/ego/image_raw`` (the camera
  node with ``source: sim`` republishes them as ``/camera/ego/image_raw``, as a real camera would);
* optionally (``expert: true``) the scripted expert of the current episode, served as action chunks
  on ``/sim/expert/action_chunk`` for ``dit4dit sim --policy scripted``: the expert plans from the
  privileged simulator state at each reset (a joint-space trajectory at 30 Hz through the same IK
  the demo generator uses), and its clock starts when the controller reports RUN on
  ``/diagnostics``, so the policy node relays the expert through the same graph a learned policy
  uses.

Torch-free.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.graph import LifecycleNode
from dit4dit_policy.ros.launcher import node_main

#: Topic of the rendered frames (the camera node's ``sim_topic``).
SIM_IMAGE_TOPIC = "/sim/ego/image_raw"
#: Topic of the scripted expert's chunks (the policy node's ``expert_topic``).
EXPERT_TOPIC = "/sim/expert/action_chunk"


@dataclasses.dataclass
class SimBridgeNodeConfig:
    """Parameters of the simulator bridge node (``sim_bridge_node: ros__parameters:``)."""

    #: task and seed of the first episode (later episodes come from reset commands)
    task: str = "pick_place"
    seed: int = 0
    #: pace physics to wall time (False: as fast as possible)
    realtime: bool = True
    #: ego frames per second
    camera_rate_hz: float = 30.0
    #: rendered image size [px] (the camera's full 4:3 view scaled)
    image_width: int = 160
    image_height: int = 120
    #: serve the scripted expert's chunks on /sim/expert/action_chunk
    expert: bool = False
    #: expert chunk rate [Hz] and length [points at 1/30 s]
    expert_rate_hz: float = 10.0
    expert_horizon: int = schema.ACTION_HORIZON

    def __post_init__(self) -> None:
        if self.image_width <= 0 or self.image_height <= 0:
            raise ValueError(f"image size must be positive, got {self.image_width}x{self.image_height}")
        if self.expert_rate_hz <= 0 or self.expert_horizon < 2:
            raise ValueError("expert_rate_hz must be > 0 and expert_horizon >= 2")


class ExpertServer:
    """The current episode's scripted expert as a time-indexed joint trajectory.

    Args:
        horizon: points per served chunk.
    """

    def __init__(self, horizon: int) -> None:
        from dit4dit_policy.sim.experts import ScriptedExpert

        self.horizon = horizon
        self._expert = ScriptedExpert()
        self.trajectory: np.ndarray | None = None
        self.clock_start_ns: int | None = None
        self.episode = -1

    def plan(self, env: object, episode: int, max_steps: int) -> None:
        """Plan episode ``episode`` of ``env`` (just reset) into a (T, 16) trajectory."""
        self._expert.reset(env)
        steps = [np.asarray(env.target, dtype=np.float64)]  # type: ignore[attr-defined]
        while not self._expert.done and len(steps) < max_steps:
            steps.append(self._expert.act().astype(np.float64))
        self.trajectory = np.stack(steps)
        self.clock_start_ns = None
        self.episode = episode

    def chunk(self, now_ns: int) -> itf.TrajectoryData | None:
        """The next ``horizon`` expert targets from ``now_ns`` (None before the clock started)."""
        if self.trajectory is None or self.clock_start_ns is None:
            return None
        dt_ns = schema.ACTION_DT_S * 1e9
        k = int((now_ns - self.clock_start_ns) // dt_ns)
        idx = np.clip(np.arange(k, k + self.horizon), 0, len(self.trajectory) - 1)
        start_ns = self.clock_start_ns + round(k * dt_ns)
        offsets = np.round(np.arange(self.horizon) * dt_ns).astype(np.int64)
        return itf.TrajectoryData(
            schema.JOINT_NAMES, self.trajectory[idx], offsets, stamp_ns=max(start_ns, 1)
        )


class SimBridgeNode(LifecycleNode):
    """MuJoCo G1 simulator on the robot's DDS protocol, with ego frames and the scripted expert."""

    NAME = "sim_bridge_node"
    CONFIG = SimBridgeNodeConfig

    def on_configure(self) -> bool:
        """Lifecycle ``configure``: build and open the simulator bridge."""
        os.environ.setdefault("MUJOCO_GL", "egl")
        from dit4dit_policy.sim.bridge import BridgeConfig, SimBridge
        from dit4dit_policy.sim.scene import SceneConfig

        cfg: SimBridgeNodeConfig = self.config
        session = getattr(self.graph, "session", None)
        bridge_cfg = BridgeConfig(
            domain_id=session.domain_id if session is not None else 1,
            interface=session.interface if session is not None else "lo",
            task=cfg.task,
            seed=cfg.seed,
            realtime=cfg.realtime,
            camera_rate_hz=cfg.camera_rate_hz,
            scene=SceneConfig(image_width=cfg.image_width, image_height=cfg.image_height),
        )
        self._pub_image = self.graph.create_publisher(SIM_IMAGE_TOPIC, itf.MsgKind.IMAGE, itf.SENSOR_QOS)
        self.bridge = SimBridge(bridge_cfg, on_frame=self._on_frame)
        self.bridge.open()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._expert: ExpertServer | None = None
        if cfg.expert:
            self._expert = ExpertServer(cfg.expert_horizon)
            self._pub_expert = self.graph.create_publisher(
                EXPERT_TOPIC, itf.MsgKind.JOINT_TRAJECTORY, itf.RELIABLE_QOS
            )
            self._controller_state = ""
            self.graph.create_subscription(
                itf.TOPIC_DIAGNOSTICS, itf.MsgKind.DIAGNOSTICS, itf.RELIABLE_QOS, self._on_diagnostics
            )
            self.graph.create_timer(1.0 / cfg.expert_rate_hz, self._serve_expert)
        return True

    def _on_frame(self, rgb: np.ndarray, stamp_ns: int) -> None:
        self._pub_image.publish(
            itf.ImageFrame(rgb=rgb, stamp_ns=stamp_ns, frame_id="ego_camera_optical_frame")
        )

    def on_activate(self) -> bool:
        """Lifecycle ``activate``: run the physics loop on its own thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sim-bridge", daemon=True)
        self._thread.start()
        return True

    def _run(self) -> None:
        try:
            self.bridge.run(stop=self._stop)
        except Exception as exc:
            self.logger.exception("simulator loop failed")
            self.exit_code = 1
            self.graph.request_shutdown(f"simulator failure: {exc}")

    def on_deactivate(self) -> bool:
        """Lifecycle ``deactivate``: stop the physics loop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        return True

    def on_cleanup(self) -> bool:
        """Lifecycle ``cleanup``: close the bridge."""
        self.bridge.close()
        return True

    def _on_diagnostics(self, array: itf.DiagnosticArrayData) -> None:
        for status in array.status:
            if status.name.endswith(": supervisor"):
                self._controller_state = status.values.get("state", "")

    def _serve_expert(self) -> None:
        assert self._expert is not None
        status = self.bridge.status()
        env = self.bridge.env
        if env is None:
            return
        if status["episode"] != self._expert.episode:
            max_steps = int(status["time_limit_s"] / schema.ACTION_DT_S) + 1
            self._expert.plan(env, status["episode"], max_steps)
            self.logger.info(
                "expert planned episode %d: %d steps", status["episode"], len(self._expert.trajectory)
            )
        if self._expert.clock_start_ns is None:
            # The plan's clock starts when the controller executes chunks (RUN, or HOLD waiting for
            # the first chunk) with the arm handed over; chunks sent earlier would be played
            # partly in the past and skipped.
            running = self._controller_state in ("run", "hold")
            if running and status["control"] == "arm_sdk" and status["weight"] >= 0.5:
                self._expert.clock_start_ns = time.time_ns()
            else:
                return
        chunk = self._expert.chunk(time.time_ns())
        if chunk is not None:
            self._pub_expert.publish(chunk)


def main(argv: list[str] | None = None) -> int:
    """``sim_bridge_node`` executable."""
    return node_main(SimBridgeNode, argv)


if __name__ == "__main__":
    raise SystemExit(main())
