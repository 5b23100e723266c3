"""The simulated robot graph for teleop recording (``dit4dit record --sim``), as child processes.

Like :class:`~dit4dit_policy.ros.sim_session.SimSession`, with the teleop node in place of the
policy node.

Processes, all on one DDS domain with the loopback-only configuration (DESIGN.md §3, §7):

1. ``sim_bridge_node`` — the MuJoCo G1 behind the robot's DDS protocol, rendering the ego camera;
2. ``controller_node`` — chunk scheduler, safety filter, supervisor, 250 Hz loop on ``rt/arm_sdk``;
   its scheduler replaces the executing chunk with each new one (``strategy=replace``): teleop
   chunks are short and arrive at 60 Hz, so cross-fading would only add lag;
3. ``camera_node`` (``source: sim``) — the rendered frames as ``/camera/ego/image_raw``;
4. ``teleop_node`` — the headset server and retargeting, publishing chunks to the controller.

:meth:`SimGraph.start` waits until joint states and frames flow, sends ``start`` (the controller
ramps the arm_sdk weight in) and waits for the supervisor to run; :meth:`SimGraph.close` sends
``stop`` (ramp out) and stops the processes in reverse order. Torch-free.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from dit4dit_policy.robot.dds import loopback_config_xml
from dit4dit_policy.ros.graph_client import GraphClient
from dit4dit_policy.ros.processes import ProcessGroup, node_argv

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class SimGraphConfig:
    """What to start.

    Attributes:
        domain_id: DDS domain of the whole graph (1 = simulation, DESIGN.md §3).
        task: simulator task (``sim.tasks`` registry).
        seed: scene seed.
        image_width: rendered width [px].
        image_height: rendered height [px].
        log_dir: directory of the processes' logs.
        teleop_params: ``key=value`` parameters of the teleop node.
        controller_params: extra ``key=value`` parameters of the controller node.
        startup_timeout_s: longest wait for the graph to come up [s].
    """

    domain_id: int = 1
    task: str = "close_drawer"
    seed: int = 0
    image_width: int = 160
    image_height: int = 120
    log_dir: Path = Path("logs")
    teleop_params: list[str] = dataclasses.field(default_factory=list)
    controller_params: list[str] = dataclasses.field(default_factory=list)
    startup_timeout_s: float = 180.0


class SimGraph:
    """The simulated robot graph plus the teleop node; use as a context manager.

    Args:
        config: what to start.
    """

    def __init__(self, config: SimGraphConfig) -> None:
        self.config = config
        env = {"CYCLONEDDS_URI": loopback_config_xml(), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
        os.environ["CYCLONEDDS_URI"] = env["CYCLONEDDS_URI"]  # this process's participants too
        self.group = ProcessGroup(config.log_dir, env=env)
        self.client: GraphClient | None = None

    def __enter__(self) -> SimGraph:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _node(self, module: str, name: str, params: list[str], grace_s: float) -> None:
        self.group.start(name, node_argv(module, self.config.domain_id, params), stop_grace_s=grace_s)

    @property
    def supervisor_state(self) -> str:
        """The controller's supervisor state ('' before its first diagnostics)."""
        return self.client.controller_state if self.client is not None else ""

    def start(self) -> None:
        """Start the processes, wait for data, ramp the controller in.

        Raises:
            ProcessDiedError: a process exited during start-up (its log tail is in the message).
            TimeoutError: the graph did not come up in time.
        """
        cfg = self.config
        self._node(
            "sim_bridge_node",
            "sim",
            [
                f"task={cfg.task}",
                f"seed={cfg.seed}",
                f"image_width={cfg.image_width}",
                f"image_height={cfg.image_height}",
            ],
            grace_s=10.0,
        )
        self._node(
            "controller_node",
            "controller",
            [
                f"controller.link.domain_id={cfg.domain_id}",
                "controller.link.interface=lo",
                "controller.scheduler.strategy=replace",
                *cfg.controller_params,
            ],
            grace_s=20.0,
        )
        self._node("camera_node", "camera", ["source=sim"], grace_s=5.0)
        self._node("teleop_node", "teleop", cfg.teleop_params, grace_s=5.0)
        self.client = client = GraphClient(cfg.domain_id, interface="lo", liveness_check=self.group.check)
        where = f" (logs in {cfg.log_dir})"
        client.wait(
            lambda: client.joint_state is not None and client.frames > 0 and client.controller_state != "",
            cfg.startup_timeout_s,
            "joint states, camera frames and the controller" + where,
        )
        client.command("start")
        ramped_in = lambda: client.controller_state in ("run", "hold")  # noqa: E731
        client.wait(ramped_in, 60.0, "the controller to ramp in" + where)

    def close(self) -> None:
        """Ramp the controller out and stop every process."""
        if self.client is not None:
            self.client.command("stop")
            try:
                self.client.spin(0.5)
            except Exception:  # a dead child process: stop the rest below anyway
                logger.exception("while stopping the simulated graph")
            self.client.close()
            self.client = None
        codes = self.group.stop()
        logger.info("simulated graph stopped: %s", codes)
