"""``dit4dit sim``: the node graph as separate processes against the MuJoCo G1, rollout by rollout.

Processes (each its own ``<name>.log`` in the output directory), all on one private DDS domain with
the loopback-only configuration:

1. ``sim_bridge_node`` — MuJoCo G1 on the robot's protocol (+ scripted expert for ``--policy scripted``);
2. ``controller_node`` — safety filter, supervisor, chunk scheduler, 250 Hz loop on ``rt/arm_sdk``;
3. ``camera_node`` (``source: sim``) — ego frames as ``/camera/ego/image_raw`` + CameraInfo;
4. ``policy_node`` — the checkpoint's DiT4DiT policy (or the scripted-expert relay).

Per rollout this session (itself a DDS participant) resets the scene (``/dit4dit/sim/command``),
sends the instruction (``/dit4dit/task``) and ``start`` (``/dit4dit/command``); the controller ramps
in, the policy acts until the task succeeds or its time limit passes; ``stop`` makes the controller
ramp out to the rest pose. Every arm command on the wire is checked by an independent
:class:`~dit4dit_policy.robot.monitor.CommandMonitor`. Ctrl-C or any process dying stops
everything in reverse order (the controller ramps out in its deactivate transition).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dit4dit_policy.robot import unitree_hg, wire
from dit4dit_policy.robot.dds import loopback_config_xml
from dit4dit_policy.robot.monitor import CommandMonitor
from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.graph_client import GraphClient
from dit4dit_policy.ros.processes import ProcessDiedError, ProcessGroup, node_argv

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class SimSessionConfig:
    """Options of a simulated session (``dit4dit sim`` flags).

    Attributes:
        task: simulator task (``dit4dit demos --help`` lists them).
        policy: ``checkpoint`` (a DiT4DiT checkpoint directory) or ``scripted`` (the task's expert).
        checkpoint: checkpoint directory for policy=checkpoint.
        rollouts: number of rollouts.
        seed: seed of the first rollout (rollout i uses seed + i).
        out_dir: results, videos and process logs.
        domain_id: private DDS domain (loopback only).
        device: torch device of the policy ("cpu" without a GPU).
        record_video: write an mp4 of each rollout's ego frames.
        image_width, image_height: rendered ego image size [px] (match the checkpoint's training data).
        extra_time_s: time the policy may run beyond the task's time limit [s] (0: the limit of the
            evaluation protocol; the clock starts when the controller runs the policy, after the
            ramp-in and the move to the start pose).
        startup_timeout_s: longest wait for the graph to come up [s].
        node_params: extra ``--param`` overrides per process name, e.g. {"policy": ["trigger=rate"]}.
    """

    task: str = "pick_place"
    policy: Literal["checkpoint", "scripted"] = "scripted"
    checkpoint: str = ""
    rollouts: int = 1
    seed: int = 0
    out_dir: Path = Path("outputs/sim")
    domain_id: int = 1
    device: str = "cpu"
    record_video: bool = True
    image_width: int = 160
    image_height: int = 120
    extra_time_s: float = 0.0
    startup_timeout_s: float = 120.0
    node_params: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.policy == "checkpoint" and not self.checkpoint:
            raise ValueError("policy 'checkpoint' needs --checkpoint DIR")
        if self.rollouts < 1:
            raise ValueError(f"rollouts must be >= 1, got {self.rollouts}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.extra_time_s < 0:
            raise ValueError(f"extra_time_s must be >= 0, got {self.extra_time_s}")


@dataclasses.dataclass
class RolloutResult:
    """Outcome and figures of one rollout (one line of results.json)."""

    index: int
    task: str
    seed: int
    instruction: str
    success: bool
    first_success_s: float | None
    duration_s: float
    chunks: int
    latency_obs_to_exec_ms: float | None
    inference_ms: float | None
    safety_violations: int
    commands: int
    max_step_rad: float
    controller_holds: int
    video: str | None
    policy_counters: dict[str, int] = dataclasses.field(default_factory=dict)
    error: str | None = None


class _Video:
    """Streams RGB frames into an mp4 (PyAV, h264) on a background-safe call path."""

    def __init__(self, path: Path, rate: int = 30) -> None:
        import av

        self.path = path
        self._container = av.open(str(path), "w")
        self._stream = None
        self._rate = rate
        self.frames = 0

    def add(self, rgb: np.ndarray) -> None:
        import av

        if self._stream is None:
            self._stream = self._container.add_stream("libx264", rate=self._rate)
            self._stream.height, self._stream.width = (
                rgb.shape[0] - rgb.shape[0] % 2,
                rgb.shape[1] - rgb.shape[1] % 2,
            )
            self._stream.pix_fmt = "yuv420p"
        frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(rgb[: self._stream.height, : self._stream.width]), format="rgb24"
        )
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()


class SimSession:
    """The full node graph against the simulator; use as a context manager.

    Args:
        config: session options.
    """

    def __init__(self, config: SimSessionConfig) -> None:
        self.config = config
        self.out_dir = Path(config.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.group = ProcessGroup(self.out_dir / "logs", env=self._env())
        self._lock = threading.Lock()
        self._video: _Video | None = None
        self.monitor = CommandMonitor()
        self.client: GraphClient | None = None

    def _env(self) -> dict[str, str]:
        return {
            "CYCLONEDDS_URI": loopback_config_xml(),
            "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONFAULTHANDLER": "1",  # Python stacks in the log if a process aborts
        }

    # -- bring-up ---------------------------------------------------------------------------------

    def __enter__(self) -> SimSession:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _node(self, module: str, name: str, params: list[str], grace_s: float) -> None:
        params = [*params, *self.config.node_params.get(name, [])]
        self.group.start(name, node_argv(module, self.config.domain_id, params), stop_grace_s=grace_s)

    def start(self) -> None:
        """Start the four processes and wait until joint states, frames and the sim status flow.

        Raises:
            ProcessDiedError: a process exited during start-up.
            TimeoutError: the graph did not come up within ``startup_timeout_s``.
        """
        cfg = self.config
        d = cfg.domain_id
        self._node(
            "sim_bridge_node",
            "sim",
            [
                f"task={cfg.task}",
                f"seed={cfg.seed}",
                f"image_width={cfg.image_width}",
                f"image_height={cfg.image_height}",
                f"expert={str(cfg.policy == 'scripted').lower()}",
            ],
            grace_s=10.0,
        )
        from dit4dit_policy.sim.env import READY_STATE

        # Every episode starts from the tasks' ready pose, as the demonstrations do: after a reset
        # the simulated robot's own controller lets the arms sag towards its default pose until the
        # ramp-in completes, so the controller moves them back (MOVE_TO_START) before the policy runs.
        start_pose = "[" + ",".join(f"{v:.6g}" for v in READY_STATE) + "]"
        self._node(
            "controller_node",
            "controller",
            [
                f"controller.link.domain_id={d}",
                "controller.link.interface=lo",
                f"controller.supervisor.start_pose={start_pose}",
            ],
            grace_s=20.0,
        )
        self._node("camera_node", "camera", ["source=sim"], grace_s=5.0)
        # Simulation shares the CPU with rendering and physics: allow older frames than on the robot.
        policy = [f"predictor={cfg.policy}", f"device={cfg.device}"]
        policy += ["max_frame_age_s=0.5", "max_state_age_s=0.3", "torch_threads=1"]
        if cfg.policy == "checkpoint":
            policy.append(f"checkpoint={Path(cfg.checkpoint).resolve()}")
        self._node("policy_node", "policy", policy, grace_s=5.0)

        self.client = client = GraphClient(d, interface="lo", liveness_check=self.group.check)
        client.on_frame.append(self._on_image)
        self._start_command_monitor()
        client.wait(
            lambda: (
                bool(client.status)
                and client.controller_state == "idle"
                and client.frames > 0
                and bool(client.policy)
            ),
            cfg.startup_timeout_s,
            "the simulator, controller, camera and policy to come up",
        )

    def _start_command_monitor(self) -> None:
        from cyclonedds.core import Policy, Qos
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        assert self.client is not None
        part = self.client.graph.session.participant
        qos = Qos(Policy.Reliability.Reliable(max_blocking_time=100_000_000), Policy.History.KeepLast(1000))
        self._cmd_reader = DataReader(
            part, Topic(part, unitree_hg.TOPIC_ARM_SDK, unitree_hg.LowCmd_), qos=qos
        )
        self._monitor_stop = threading.Event()
        self._monitor_thread = threading.Thread(
            target=self._monitor_loop, name="command-monitor", daemon=True
        )
        self._monitor_thread.start()

    def _monitor_loop(self) -> None:
        while not self._monitor_stop.is_set():
            samples = wire.take_raw(self._cmd_reader, 256)
            for data, info in samples:
                with self._lock:
                    self.monitor.check(wire.lowcmd_from_cdr(data), info.source_timestamp / 1e9)
            if not samples:
                time.sleep(0.001)

    def _on_image(self, frame: itf.ImageFrame) -> None:
        if self._video is not None:
            self._video.add(frame.rgb)

    # -- rollouts ---------------------------------------------------------------------------------------

    def reset_scene(self, task: str, seed: int) -> dict[str, Any]:
        """Reset the simulator to ``task`` with ``seed`` (controller idle); returns the new status."""
        client = self._require_client()
        if client.controller_state not in ("idle", ""):
            self.end()
        episode = int(client.status.get("episode", 0))
        client.sim_command(f"reset {task} {seed}")
        client.wait(
            lambda: (
                int(client.status.get("episode", 0)) > episode and int(client.status.get("seed", -1)) == seed
            ),
            30.0,
            f"the simulator to reset {task} with seed {seed}",
        )
        return dict(client.status)

    def begin(self, instruction: str) -> None:
        """Send the instruction and ``start``; return once the controller runs the policy."""
        client = self._require_client()
        client.task(instruction)
        client.command("start")
        client.wait(lambda: client.controller_state in ("run", "hold"), 30.0, "the controller to ramp in")

    def end(self) -> None:
        """``stop``: the controller holds, ramps out to the rest pose and goes idle (blocking)."""
        client = self._require_client()
        client.command("stop")
        client.wait(lambda: client.controller_state == "idle", 30.0, "the controller to ramp out")

    def _require_client(self) -> GraphClient:
        if self.client is None:
            raise RuntimeError("the session is not started")
        return self.client

    def rollout(self, index: int, seed: int) -> RolloutResult:
        """Run one rollout: reset → start → act until success or time limit → stop (ramp out)."""
        cfg = self.config
        client = self._require_client()
        status = self.reset_scene(cfg.task, seed)
        instruction = str(status.get("instruction", ""))
        time_limit = float(status.get("time_limit_s", 10.0))
        video = None
        if cfg.record_video:
            video = self.out_dir / "videos" / f"rollout_{index:03d}_seed{seed}.mp4"
            video.parent.mkdir(parents=True, exist_ok=True)
            self._video = _Video(video)
        with self._lock:
            violations_before = len(self.monitor.violations)
            commands_before = self.monitor.commands
            self.monitor.max_step = 0.0
        holds_before = client.holds
        chunks_before = client.policy_count("chunks")
        self.begin(instruction)
        t_run = time.monotonic()
        latencies, inference = [], []
        success_at: float | None = None
        last_task = time.monotonic()
        while time.monotonic() - t_run < time_limit + cfg.extra_time_s:
            client.spin(0.1)
            if time.monotonic() - last_task > 1.0:  # volatile topic: repeat for late joiners
                client.task(instruction)
                last_task = time.monotonic()
            if client.controller.get("latency_obs_to_exec_s") not in (None, "None", "nan"):
                latencies.append(float(client.controller["latency_obs_to_exec_s"]) * 1e3)
            if client.policy.get("total_ms") not in (None, "nan"):
                inference.append(float(client.policy["total_ms"]))
            if client.status.get("success"):
                success_at = time.monotonic() - t_run
                client.spin(0.3)  # let the success settle (e.g. the object stays in the bowl)
                if client.status.get("success"):
                    break
                success_at = None
            if client.controller_state in ("estop", "idle"):
                break
        duration = time.monotonic() - t_run
        success = bool(client.status.get("success"))
        self.end()
        if self._video is not None:
            self._video.close()
            self._video = None
        with self._lock:
            violations = self.monitor.violations[violations_before:]
            commands = self.monitor.commands - commands_before
            max_step = self.monitor.max_step
        for v in violations[:5]:
            logger.error("safety violation: %s", v)
        return RolloutResult(
            index=index,
            task=cfg.task,
            seed=seed,
            instruction=instruction,
            success=success,
            first_success_s=round(success_at, 3) if success_at is not None else None,
            duration_s=round(duration, 3),
            chunks=client.policy_count("chunks") - chunks_before,
            latency_obs_to_exec_ms=round(statistics.median(latencies), 2) if latencies else None,
            inference_ms=round(statistics.median(inference), 2) if inference else None,
            safety_violations=len(violations),
            commands=commands,
            max_step_rad=round(max_step, 6),
            controller_holds=client.holds - holds_before,
            video=str(video.relative_to(self.out_dir)) if video else None,
            policy_counters={
                key: client.policy_count(key)
                for key in ("skipped_stale_frame", "skipped_stale_state", "late_chunk", "no_chunk", "errors")
            },
        )

    def run(self, on_result: Callable[[RolloutResult], None] | None = None) -> list[RolloutResult]:
        """All rollouts; results.json is rewritten (atomically) after each one."""
        results: list[RolloutResult] = []
        for i in range(self.config.rollouts):
            result = self.rollout(i, self.config.seed + i)
            results.append(result)
            self.write_results(results)
            if on_result is not None:
                on_result(result)
        return results

    def write_results(self, results: list[RolloutResult]) -> Path:
        """``results.json``: config, per-rollout results and the success rate."""
        path = self.out_dir / "results.json"
        data = {
            "task": self.config.task,
            "policy": self.config.policy,
            "checkpoint": self.config.checkpoint or None,
            "rollouts": [dataclasses.asdict(r) for r in results],
            "successes": sum(r.success for r in results),
            "success_rate": sum(r.success for r in results) / len(results) if results else None,
            "safety_violations": sum(r.safety_violations for r in results),
        }
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        tmp.replace(path)
        return path

    # -- shutdown ---------------------------------------------------------------------------------------

    def close(self) -> dict[str, int | None]:
        """Stop every process (policy, camera, controller — ramping out —, simulator) and the monitor."""
        codes = self.group.stop()
        if getattr(self, "_monitor_thread", None) is not None:
            self._monitor_stop.set()
            self._monitor_thread.join(timeout=2.0)
            # Commands sent during the controller's final ramp-out are checked too.
            for data, info in wire.take_raw(self._cmd_reader, 4096):
                self.monitor.check(wire.lowcmd_from_cdr(data), info.source_timestamp / 1e9)
        if self._video is not None:
            self._video.close()
            self._video = None
        if self.client is not None:
            self.client.close()
        return codes


__all__ = ["ProcessDiedError", "RolloutResult", "SimSession", "SimSessionConfig"]
