"""The DDS bridge: makes the simulated G1 look like the real robot to the rest of the stack.

One process, domain 1 on loopback by default (g1_spec §1.5, DESIGN.md §3):

* subscribes ``rt/arm_sdk`` and ``rt/lowcmd`` (``unitree_hg`` ``LowCmd_``); every sample's CRC is
  checked (g1_spec §1.3) and a bad one is counted and ignored. ``rt/arm_sdk`` is blended with
  the weight ``motor_cmd[29].q`` against the built-in posture controller; the first valid
  ``rt/lowcmd`` switches the simulator to debug mode (commands applied verbatim, weight 1,
  ``mode`` 0 = motor off) until the next reset (:mod:`dit4dit_policy.sim.actuation`);
* publishes ``rt/lowstate`` once per 2 ms physics step (500 Hz, g1_spec §1.6) with the waist at
  motor indices 12-14 and the arms at 15-28, ``mode_machine`` 5 (g1_29dof_rev_1_0, §1.4), an
  upright IMU and its CRC;
* serves the Dex1 gripper topics ``rt/dex1/{left,right}/cmd`` → ``…/state`` (``unitree_go``
  ``MotorCmds_``/``MotorStates_``, one motor, q = opening·5.4 rad, 0 = closed; §1.1, §4), the
  interface the real gripper driver uses;
* renders the head camera at ``camera_rate_hz`` on its own thread and hands each frame to the
  ``on_frame(rgb, stamp_ns)`` sink (the ROS layer publishes it as the ego image topic);
* answers ``rt/dit4dit/sim/command`` (reset/status) and publishes ``rt/dit4dit/sim/status``
  (:mod:`dit4dit_policy.sim.protocol`).

Real-time pacing by default (the loop sleeps to wall time; after a stall longer than 0.1 s it
resynchronises and counts an overrun); ``realtime=False`` runs as fast as possible and renders
frames synchronously at their simulated times.

Torch-free.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from typing import Any

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.robot import unitree_go, unitree_hg, wire
from dit4dit_policy.robot.dds import DdsSession, check_domain_id
from dit4dit_policy.sim import description as desc
from dit4dit_policy.sim import protocol
from dit4dit_policy.sim.actuation import NUM_SIM_MOTORS, MotorCommand
from dit4dit_policy.sim.camera_thread import CameraThread, FrameSink
from dit4dit_policy.sim.env import READY_STATE, EnvConfig, G1TabletopEnv
from dit4dit_policy.sim.scene import SceneConfig
from dit4dit_policy.sim.tasks import task_names

logger = logging.getLogger(__name__)

_MOTORS = np.array(desc.SIM_MOTOR_INDICES)
#: Simulated robot variant reported in LowState_.mode_machine (g1_spec §1.4: 5 = g1_29dof_rev_1_0).
MODE_MACHINE_G1_29DOF = 5
#: Standard gravity [m/s²] reported by the upright IMU's accelerometer.
GRAVITY = 9.81
#: Longest lag behind wall time before the real-time loop gives up catching up [s].
MAX_LAG_S = 0.1


@dataclasses.dataclass
class BridgeConfig:
    """Options of :class:`SimBridge` (``dit4dit sim-bridge`` flags and ``--a.b=value`` overrides).

    Attributes:
        domain_id: DDS domain (1 = simulation, DESIGN.md §3).
        interface: network interface; ``lo`` = loopback-only configuration; None = CYCLONEDDS_URI.
        task: task loaded at start (see ``dit4dit demos --help``).
        seed: seed of the first episode.
        realtime: pace the physics to wall time (False: as fast as possible).
        camera_rate_hz: ego frames per second (0 disables the camera).
        gripper_rate_hz: Dex1 state publication rate [Hz].
        status_rate_hz: periodic status publication rate [Hz].
        gravity_feedforward: add gravity compensation to the user's arm torque (as if the controller
            sent RNEA τ_ff, g1_spec §2.2; matches the in-process environment). Set False when the
            controller sends its own gravity feed-forward.
        scene: physics step, image size, calibration, meshes.

    Raises:
        ValueError: bad domain, task or rates.
    """

    domain_id: int = 1
    interface: str | None = "lo"
    task: str = "close_drawer"
    seed: int = 0
    realtime: bool = True
    camera_rate_hz: float = 30.0
    gripper_rate_hz: float = 100.0
    status_rate_hz: float = 10.0
    gravity_feedforward: bool = True
    scene: SceneConfig = dataclasses.field(default_factory=SceneConfig)

    def __post_init__(self) -> None:
        check_domain_id(self.domain_id)
        if self.task not in task_names():
            raise ValueError(f"task must be one of {', '.join(task_names())}, got {self.task!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        for name, high in (("camera_rate_hz", 120.0), ("gripper_rate_hz", 500.0), ("status_rate_hz", 100.0)):
            value = getattr(self, name)
            low = 0.0 if name == "camera_rate_hz" else 1.0
            if not low <= value <= high:
                raise ValueError(f"{name} must be in [{low}, {high}] Hz, got {value}")


@dataclasses.dataclass
class BridgeCounters:
    """What the bridge has seen and done (also in every status message)."""

    steps: int = 0
    lowstate_published: int = 0
    arm_sdk_received: int = 0
    lowcmd_received: int = 0
    crc_errors: int = 0
    invalid_commands: int = 0
    gripper_commands: int = 0
    frames_requested: int = 0
    resets: int = 0
    overruns: int = 0


class SimBridge:
    """The simulator behind the robot's DDS topics.

    Args:
        config: bridge options.
        on_frame: ego frame sink ``(rgb (H, W, 3) uint8, stamp_ns)``, called on the camera thread;
            None renders nothing.

    Raises:
        ValueError: invalid config.
    """

    def __init__(self, config: BridgeConfig | None = None, on_frame: FrameSink | None = None) -> None:
        self.config = config or BridgeConfig()
        self.on_frame = on_frame
        self.counters = BridgeCounters()
        self.env: G1TabletopEnv | None = None
        self.session: DdsSession | None = None
        self._camera: CameraThread | None = None
        self._io: dict[str, Any] = {}
        self._command: MotorCommand | None = None
        self._weight = 0.0
        self._control = "none"
        self._grippers = READY_STATE[schema.GRIPPERS].copy()
        self._task = self.config.task
        self._seed = self.config.seed
        self._episode = 0
        self._episode_t0 = 0.0
        self._first_success: float | None = None
        self._last_command = ""
        self._error: str | None = None
        self._next_frame_t = 0.0
        self._next_gripper_t = 0.0
        self._next_status_t = 0.0
        self._state = wire.new_lowstate_array()
        self._state["mode_machine"] = MODE_MACHINE_G1_29DOF
        self._state["imu_state"]["accelerometer"] = [0.0, 0.0, GRAVITY]

    # -- lifecycle -------------------------------------------------------------------------------
    def open(self) -> None:
        """Join the DDS domain, create the topics, load the first task and start the camera thread."""
        from cyclonedds.pub import DataWriter
        from cyclonedds.qos import Policy, Qos
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        self.session = DdsSession(self.config.domain_id, self.config.interface)
        part = self.session.participant
        reliable = Policy.Reliability.Reliable(max_blocking_time=100_000_000)
        io: dict[str, Any] = {
            "lowstate": DataWriter(part, Topic(part, unitree_hg.TOPIC_LOWSTATE, unitree_hg.LowState_)),
            "arm_sdk": DataReader(
                part,
                Topic(part, unitree_hg.TOPIC_ARM_SDK, unitree_hg.LowCmd_),
                qos=Qos(Policy.History.KeepLast(32)),
            ),
            "lowcmd": DataReader(
                part,
                Topic(part, unitree_hg.TOPIC_LOWCMD, unitree_hg.LowCmd_),
                qos=Qos(Policy.History.KeepLast(32)),
            ),
            "command": DataReader(
                part,
                Topic(part, protocol.COMMAND_TOPIC, protocol.String_),
                qos=Qos(reliable, Policy.History.KeepLast(16)),
            ),
            "status": DataWriter(
                part,
                Topic(part, protocol.STATUS_TOPIC, protocol.String_),
                qos=Qos(reliable, Policy.Durability.TransientLocal, Policy.History.KeepLast(1)),
            ),
        }
        for side in ("left", "right"):
            cmd_topic, state_topic = unitree_go.dex1_topics(side)
            io[f"dex1_{side}_cmd"] = DataReader(part, Topic(part, cmd_topic, unitree_go.MotorCmds_))
            io[f"dex1_{side}_state"] = DataWriter(part, Topic(part, state_topic, unitree_go.MotorStates_))
        self._io = io
        if self.on_frame is not None and self.config.camera_rate_hz > 0:
            scene = self.config.scene
            self._camera = CameraThread(
                self.on_frame, scene.image_width, scene.image_height, (desc.HIDDEN_GEOM_GROUP,)
            )
        self.reset(self._task, self._seed)

    def close(self) -> None:
        """Stop the camera thread and leave the DDS domain."""
        if self._camera is not None:
            self._camera.close()
            self._camera = None
        if self.env is not None:
            self.env.close()
        self._io = {}
        self.session = None

    def __enter__(self) -> SimBridge:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- episodes --------------------------------------------------------------------------------
    def reset(self, task: str | None = None, seed: int | None = None) -> None:
        """Load (if needed) and randomise ``task`` with ``seed``; arms to the ready pose.

        Raises:
            ValueError: unknown task.
        """
        task = task or self._task
        if task not in task_names():
            raise ValueError(f"unknown task {task!r}; expected one of {', '.join(task_names())}")
        seed = self._seed + 1 if seed is None else int(seed)
        if self.env is None or task != self.env.task.full_name:
            if self.env is not None:
                self.env.close()
            config = EnvConfig(scene=self.config.scene, gravity_feedforward=self.config.gravity_feedforward)
            self.env = G1TabletopEnv(task, config, render_mode=None)
            if self._camera is not None:
                self._camera.set_model(self.env.scene.model)
        self.env.reset(seed=seed)
        self._task, self._seed = task, seed
        self._episode += 1
        self.counters.resets += 1
        self._episode_t0 = float(self.env.scene.data.time)
        self._first_success = None
        self._grippers = READY_STATE[schema.GRIPPERS].copy()
        if self._control == "lowcmd":
            self._control, self._command, self._weight = "none", None, 0.0
        self._apply()
        t = self._sim_time
        self._next_frame_t = self._next_gripper_t = self._next_status_t = t

    # -- main loop -------------------------------------------------------------------------------
    def run(self, duration_s: float | None = None, stop: threading.Event | None = None) -> None:
        """Run the loop until ``stop`` is set, ``duration_s`` of wall time passed, or Ctrl-C.

        Raises:
            RuntimeError: :meth:`open` was not called.
        """
        if self.env is None:
            raise RuntimeError("SimBridge.run called before open()")
        dt = self.env.scene.model.opt.timestep
        start = time.monotonic()
        next_t = start
        while not (stop is not None and stop.is_set()):
            now = time.monotonic()
            if duration_s is not None and now - start >= duration_s:
                break
            self.step()
            if self.config.realtime:
                next_t += dt
                delay = next_t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -MAX_LAG_S:
                    self.counters.overruns += 1
                    next_t = time.monotonic()

    def step(self) -> None:
        """One physics step with all its I/O: commands in, physics, lowstate (and more) out."""
        import mujoco

        env = self.env
        assert env is not None
        self._poll_commands()
        mujoco.mj_step(env.scene.model, env.scene.data)
        self.counters.steps += 1
        self._publish_lowstate()
        t = self._sim_time
        if self._first_success is None and env.task.success():
            self._first_success = t - self._episode_t0
        if t >= self._next_gripper_t:
            self._next_gripper_t += 1.0 / self.config.gripper_rate_hz
            self._poll_grippers()
            self._publish_grippers()
        if self._camera is not None and t >= self._next_frame_t:
            self._next_frame_t += 1.0 / self.config.camera_rate_hz
            self.counters.frames_requested += 1
            self._camera.request(env.scene.data.qpos, time.time_ns(), wait=not self.config.realtime)
        if t >= self._next_status_t:
            self._next_status_t += 1.0 / self.config.status_rate_hz
            self.publish_status()

    @property
    def _sim_time(self) -> float:
        return float(self.env.scene.data.time) if self.env is not None else 0.0

    # -- commands in -----------------------------------------------------------------------------
    def _poll_commands(self) -> None:
        changed = False
        for topic in ("lowcmd", "arm_sdk"):
            for data, _ in wire.take_raw(self._io[topic]):
                command = self._decode(data, topic)
                if command is None:
                    continue
                if topic == "lowcmd":
                    self.counters.lowcmd_received += 1
                    self._control = "lowcmd"
                elif self._control == "lowcmd":
                    self.counters.arm_sdk_received += 1
                    continue  # debug mode: the balance controller (and arm_sdk) is off until reset
                else:
                    self.counters.arm_sdk_received += 1
                    self._control = "arm_sdk"
                self._command, self._weight = command
                changed = True
        if changed:
            self._apply()
        for sample in self._io["command"].take(N=16):
            if isinstance(sample, protocol.String_):
                self._handle_text(sample.data)

    def _decode(self, data: bytes, topic: str) -> tuple[MotorCommand, float] | None:
        try:
            msg = wire.lowcmd_from_cdr(data)
        except wire.WireFormatError:
            self.counters.invalid_commands += 1
            return None
        if not wire.array_crc_ok(msg):
            self.counters.crc_errors += 1
            return None
        motors = msg["motor_cmd"]
        values = {k: motors[k][_MOTORS].astype(np.float64) for k in ("q", "dq", "tau", "kp", "kd")}
        weight = float(motors["q"][schema.ARM_SDK_WEIGHT_INDEX]) if topic == "arm_sdk" else 1.0
        finite = all(np.all(np.isfinite(v)) for v in values.values()) and math.isfinite(weight)
        if not finite or np.any(values["kp"] < 0) or np.any(values["kd"] < 0):
            self.counters.invalid_commands += 1
            return None
        if topic == "lowcmd":
            enabled = motors["mode"][_MOTORS] == 1
            commanded = np.ones(NUM_SIM_MOTORS, dtype=bool)
        else:  # arm_sdk examples leave mode at 0 (g1_spec §1.4); waist only when given gains
            enabled = np.ones(NUM_SIM_MOTORS, dtype=bool)
            commanded = np.ones(NUM_SIM_MOTORS, dtype=bool)
            commanded[:3] = (values["kp"][:3] > 0) | (values["kd"][:3] > 0)
        command = MotorCommand(enabled=enabled, commanded=commanded, **values)
        return command, min(max(weight, 0.0), 1.0)

    def _apply(self) -> None:
        env = self.env
        assert env is not None
        env.controller.set(self._command, self._weight, self.config.gravity_feedforward)
        env.controller.set_grippers(self._grippers)

    def _poll_grippers(self) -> None:
        for i, side in enumerate(("left", "right")):
            for sample in self._io[f"dex1_{side}_cmd"].take(N=16):
                cmds = getattr(sample, "cmds", None)
                if not cmds or not math.isfinite(cmds[0].q):
                    self.counters.invalid_commands += 1
                    continue
                self.counters.gripper_commands += 1
                self._grippers[i] = min(max(cmds[0].q / desc.DEX1_OPEN_Q_RAD, 0.0), 1.0)
                self.env.controller.set_grippers(self._grippers)  # type: ignore[union-attr]

    def _handle_text(self, text: str) -> None:
        self._last_command = text
        try:
            command = protocol.parse_command(text)
            if command.verb == "reset":
                self.reset(command.task, command.seed)
            self._error = None
        except ValueError as exc:
            self._error = str(exc)
            logger.warning("simulator command rejected: %s", exc)
        self.publish_status()

    # -- state out -------------------------------------------------------------------------------
    def _publish_lowstate(self) -> None:
        scene = self.env.scene  # type: ignore[union-attr]
        data = scene.data
        motors = self._state["motor_state"]
        motors["q"][_MOTORS] = data.qpos[scene.motor_qadr]
        motors["dq"][_MOTORS] = data.qvel[scene.motor_dadr]
        motors["ddq"][_MOTORS] = data.qacc[scene.motor_dadr]
        motors["tau_est"][_MOTORS] = data.actuator_force[scene.motor_actuators]
        self._state["tick"] = round(data.time * 1000.0) & 0xFFFFFFFF
        wire.write_raw(self._io["lowstate"], wire.lowstate_to_cdr(self._state))
        self.counters.lowstate_published += 1

    def _publish_grippers(self) -> None:
        scene = self.env.scene  # type: ignore[union-attr]
        data = scene.data
        scale = desc.DEX1_OPEN_Q_RAD / desc.GRIPPER_STROKE_M
        for i, side in enumerate(("left", "right")):
            state = unitree_go.new_motor_states(1)
            state.states[0] = unitree_go.new_motor_state(
                q=float(data.qpos[scene.gripper_qadr[i]] * scale),
                dq=float(data.qvel[scene.gripper_dadr[i]] * scale),
                tau_est=float(data.actuator_force[scene.gripper_actuators[i]]),
            )
            self._io[f"dex1_{side}_state"].write(state)

    def status(self) -> dict[str, Any]:
        """The current status object (see :data:`dit4dit_policy.sim.protocol.STATUS_KEYS`)."""
        env = self.env
        assert env is not None
        elapsed = self._sim_time - self._episode_t0
        layout = env.task.layout
        return {
            "task": self._task,
            "seed": self._seed,
            "episode": self._episode,
            "instruction": layout.instruction if layout else "",
            "success": bool(env.task.success()),
            "first_success_s": self._first_success,
            "elapsed_s": round(elapsed, 4),
            "time_limit_s": env.task.time_limit_s,
            "timed_out": elapsed > env.task.time_limit_s,
            "sim_time_s": round(self._sim_time, 4),
            "control": self._control,
            "weight": self._weight,
            "metrics": env.task.metrics(),
            "layout": layout.to_json() if layout else None,
            "ready_state": [float(v) for v in READY_STATE],
            "counters": dataclasses.asdict(self.counters),
            "last_command": self._last_command,
            "error": self._error,
            "stamp_ns": time.time_ns(),
        }

    def publish_status(self) -> None:
        """Publish :meth:`status` on the status topic."""
        message = protocol.encode_status(self.status())
        self._io["status"].write(message)
