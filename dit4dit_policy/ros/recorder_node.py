"""Recorder node: pairs camera frames, measured joints and commanded actions at 30 Hz into a dataset.

Subscribes ``/camera/ego/image_raw`` (frames, stamp = capture time), ``/g1/joint_states`` (measured
16-D), ``/dit4dit/action_chunk`` (the commands the controller executes — teleop targets or replayed
actions) and the command topic; publishes ``/diagnostics`` (state, frames, dropped / late counters,
save time). Pairing: :mod:`dit4dit_policy.record.pairing`; writing: :mod:`dit4dit_policy.record.recorder`.

Operator commands (``/dit4dit/command`` std_msgs/String, or single keys in the terminal):

==================  =====================================================================
``record``          start an episode (``record:<task>`` also sets the task)
``save``            stop and save the episode (frames up to the command's time)
``discard``         stop and drop the episode
``success``         mark the episode in progress (or the last saved one) successful
``failure``         mark it failed
``task:<text>``     task instruction for the following episodes
``estop``/``stop``  the controller stops: the episode in progress ends per ``on_stop``
==================  =====================================================================

The words differ from the controller's ``start``/``stop``/``reset``, so one topic serves both.
Torch-free.
"""

from __future__ import annotations

import dataclasses
import queue
import time
from collections import deque
from typing import Literal

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.record.keyboard import KeyboardControls
from dit4dit_policy.record.pairing import Chunk, FramePairer, PairingConfig
from dit4dit_policy.record.recorder import EpisodeRecorder
from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.graph import LifecycleNode
from dit4dit_policy.ros.launcher import node_main

#: Sensor streams stay best effort (REP-2003) but the recorder keeps a deeper reader history than
#: the default 5, so a stall of this process (GC, a loaded CPU) loses nothing the network delivered:
#: 1 s of frames at 30 Hz, 0.2-0.4 s of joint states at 250-500 Hz.
FRAME_QOS = itf.QosProfile(itf.Reliability.BEST_EFFORT, 30)
STATE_QOS = itf.QosProfile(itf.Reliability.BEST_EFFORT, 100)


#: Best effort like every sensor stream (REP-2003), but a second of history instead of 5 samples:
#: DDS keeps receiving while this node's executor is stalled (GC, a save, a busy CPU), and with
#: keep-last 5 a stall over ~0.17 s would lose camera frames the camera had delivered.
RECORDER_IMAGE_QOS = itf.QosProfile(itf.Reliability.BEST_EFFORT, 30)
#: Joint states at up to 500 Hz: one second of history as well.
RECORDER_STATE_QOS = itf.QosProfile(itf.Reliability.BEST_EFFORT, 500)


@dataclasses.dataclass
class RecorderNodeConfig:
    """Parameters of the recorder node (``recorder_node: ros__parameters:``).

    Attributes:
        dataset: dataset directory (created, or appended to when it exists).
        task: instruction of the episodes (changeable per episode with ``task:<text>``).
        fps: dataset rate [Hz].
        image_width: stored frame width [px] (0 = the camera's).
        image_height: stored frame height [px] (0 = the camera's).
        video_codec: ``av1`` (LeRobot default) or ``h264``.
        video_preset: SVT-AV1 / x264 speed preset override ('' = the writer's default).
        pairing: pairing tolerances.
        command_topic: operator command topic.
        on_stop: what ``estop``/``stop`` does to an episode in progress.
        autostart: start an episode as soon as the node is active.
        max_episode_s: save automatically after this long [s] (0 = no limit).
        keyboard: read single-key commands when stdin is a terminal.
        diagnostics_period_s: diagnostics period [s].
        poll_period_s: pairing period [s].
    """

    dataset: str = ""
    task: str = ""
    fps: int = int(schema.CONTROL_RATE_HZ)
    image_width: int = 0
    image_height: int = 0
    video_codec: Literal["av1", "h264"] = "av1"
    video_preset: str = ""
    pairing: PairingConfig = dataclasses.field(default_factory=PairingConfig)
    command_topic: str = itf.TOPIC_COMMAND
    on_stop: Literal["discard", "save"] = "discard"
    autostart: bool = False
    max_episode_s: float = 0.0
    keyboard: bool = True
    diagnostics_period_s: float = 1.0
    poll_period_s: float = 0.01

    def __post_init__(self) -> None:
        if not self.dataset:
            raise ValueError("dataset must name the dataset directory to record into")
        if not 1 <= self.fps <= 120:
            raise ValueError(f"fps must be in [1, 120], got {self.fps}")
        if (self.image_width == 0) != (self.image_height == 0) or min(
            self.image_width, self.image_height
        ) < 0:
            raise ValueError(
                f"image_width and image_height must both be 0 (camera size) or both > 0, "
                f"got {self.image_width}x{self.image_height}"
            )
        if self.max_episode_s < 0:
            raise ValueError(f"max_episode_s must be >= 0, got {self.max_episode_s}")
        if not 0.001 <= self.poll_period_s <= 0.1:
            raise ValueError(f"poll_period_s must be in [0.001, 0.1] s, got {self.poll_period_s}")
        if self.diagnostics_period_s <= 0:
            raise ValueError(f"diagnostics_period_s must be > 0, got {self.diagnostics_period_s}")


def trajectory_to_chunk(trajectory: itf.TrajectoryData) -> Chunk | None:
    """A received JointTrajectory as a :class:`Chunk` in schema order (None if joints are missing)."""
    index = {name: i for i, name in enumerate(trajectory.joint_names)}
    if any(name not in index for name in schema.JOINT_NAMES) or trajectory.positions.shape[0] == 0:
        return None
    columns = [index[name] for name in schema.JOINT_NAMES]
    times = trajectory.stamp_ns + trajectory.time_from_start_ns.astype(np.int64)
    if np.any(np.diff(times) <= 0):
        return None
    return Chunk(int(trajectory.stamp_ns), times, trajectory.positions[:, columns])


class RecorderNode(LifecycleNode):
    """Demonstration recorder node."""

    NAME = "recorder_node"
    CONFIG = RecorderNodeConfig

    def on_configure(self) -> bool:
        """Lifecycle ``on_configure``: open (or prepare) the dataset, create the subscriptions."""
        cfg: RecorderNodeConfig = self.config
        size = (cfg.image_height, cfg.image_width) if cfg.image_width else None
        options = {"preset": cfg.video_preset} if cfg.video_preset else None
        self._recorder = EpisodeRecorder(cfg.dataset, cfg.fps, size, cfg.video_codec, options)
        self._pairer = FramePairer(cfg.pairing, cfg.fps)
        self._task = cfg.task
        self._success: bool | None = None
        self._stopping: str | None = None
        self._episode_started = 0.0
        self._active = False
        self._commands: queue.Queue[str] = queue.Queue()
        self._rate_window: deque[float] = deque()
        self._frames_total = 0
        self._subs = [
            self.graph.create_subscription(
                itf.TOPIC_IMAGE, itf.MsgKind.IMAGE, RECORDER_IMAGE_QOS, self._on_image
            ),
            self.graph.create_subscription(
                itf.TOPIC_JOINT_STATES, itf.MsgKind.JOINT_STATE, RECORDER_STATE_QOS, self._on_joint_state
            ),
            self.graph.create_subscription(
                itf.TOPIC_ACTION_CHUNK, itf.MsgKind.JOINT_TRAJECTORY, itf.RELIABLE_QOS, self._on_chunk
            ),
            self.graph.create_subscription(
                cfg.command_topic, itf.MsgKind.STRING, itf.RELIABLE_QOS, self._commands.put
            ),
        ]
        self._pub_diag = self.graph.create_publisher(
            itf.TOPIC_DIAGNOSTICS, itf.MsgKind.DIAGNOSTICS, itf.RELIABLE_QOS
        )
        self._timer = self.graph.create_timer(cfg.poll_period_s, self._poll)
        self._diag_timer = self.graph.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics)
        self._keyboard = KeyboardControls(self._on_key) if cfg.keyboard else None
        self.logger.info(
            "recording into %s (%d episodes so far), task %r",
            cfg.dataset,
            self._recorder.num_episodes,
            self._task,
        )
        return True

    def on_activate(self) -> bool:
        """Lifecycle ``on_activate``: accept commands (and start an episode with ``autostart``)."""
        self._active = True
        if self._keyboard is not None and not self._keyboard.start():
            # e.g. under `ros2 launch`, which gives its processes no terminal on stdin
            self.logger.warning(
                "keyboard controls are off (stdin is not a terminal): publish record, save, discard, "
                "success, failure or task:<text> on %s, or run `dit4dit record` in a terminal",
                itf.TOPIC_COMMAND,
            )
        if self.config.autostart:
            self._commands.put("record")
        return True

    def on_deactivate(self) -> bool:
        """Lifecycle ``on_deactivate``: save the episode in progress (frames up to now)."""
        self._active = False
        if self._keyboard is not None:
            self._keyboard.stop()
        if self._pairer.recording:
            self._finish("save" if self._task else "discard", flush=True)
        return True

    def on_cleanup(self) -> bool:
        """Lifecycle ``on_cleanup``: wait for the writer, close the dataset."""
        self._timer.destroy()
        self._diag_timer.destroy()
        for sub in self._subs:
            sub.destroy()
        self._recorder.wait_idle()
        self._recorder.close()
        return True

    # ------------------------------------------------------------------ inputs

    def _on_image(self, frame: itf.ImageFrame) -> None:
        self._pairer.push_frame(frame.stamp_ns, frame.rgb, self.graph.now_ns())

    def _on_joint_state(self, state: itf.JointStateData) -> None:
        index = {name: i for i, name in enumerate(state.names)}
        if len(state.position) != len(state.names) or any(n not in index for n in schema.JOINT_NAMES):
            return
        self._pairer.push_state(state.stamp_ns, state.position[[index[n] for n in schema.JOINT_NAMES]])

    def _on_chunk(self, trajectory: itf.TrajectoryData) -> None:
        chunk = trajectory_to_chunk(trajectory)
        if chunk is not None:
            self._pairer.push_chunk(chunk)

    # ------------------------------------------------------------------ commands

    def _on_key(self, command: str) -> None:
        # 'q' on the node's own terminal ends the process (never a topic command)
        self._commands.put("quit:keyboard" if command == "quit" else command)

    def _handle(self, command: str) -> None:
        command = command.strip()
        word, _, argument = command.partition(":")
        if command == "quit:keyboard":
            self.graph.request_shutdown("operator quit")
        elif word == "task":
            if argument.strip():
                self._task = argument.strip()
                self.logger.info("task set to %r", self._task)
        elif word == "record":
            if argument.strip():
                self._task = argument.strip()
            self._start()
        elif word in ("save", "discard"):
            if self._pairer.recording:
                self._finish(word)
        elif word in ("success", "failure"):
            value = word == "success"
            if self._pairer.recording:
                self._success = value
                self.logger.info("episode marked %s", word)
            else:
                index = self._recorder.mark_last(value)
                self.logger.info("last saved episode %s marked %s", index, word)
        elif word in ("estop", "stop") and self._pairer.recording:
            self.logger.warning("'%s' during an episode: %s it", word, self.config.on_stop)
            self._finish(self.config.on_stop)

    def _start(self) -> None:
        if not self._active:
            return
        if self._pairer.recording:
            self.logger.warning("already recording; 'save' or 'discard' first")
            return
        if not self._task.strip():
            self.logger.error("no task instruction: set one with 'task:<text>' (or the task parameter) first")
            return
        self._pairer.start(self.graph.now_ns())
        self._success = None
        self._episode_started = time.monotonic()
        self.logger.info("recording episode %d: %r", self._recorder.num_episodes, self._task)

    def _finish(self, how: str, flush: bool = False) -> None:
        if self._stopping is None:
            self._pairer.request_stop(self.graph.now_ns())
            self._stopping = how
        if flush:  # deactivation: pair what has arrived without waiting for the pairing delay
            self._emit(self.graph.now_ns() + int(self._pairer.config.pairing_delay_s * 1e9) + 1)
            self._complete()

    def _complete(self) -> None:
        counters = self._pairer.counters
        if self._stopping == "save" and counters.frames > 0:
            self._recorder.save(self._task, counters, self._success)
        else:
            reason = "operator" if self._stopping == "discard" else "no frames"
            self._recorder.discard(self._task, counters, reason)
        self._pairer.close()
        self._stopping = None

    # ------------------------------------------------------------------ loop

    def _emit(self, now_ns: int) -> None:
        for frame in self._pairer.poll(now_ns):
            self._recorder.add(frame)
            self._frames_total += 1
            self._rate_window.append(time.monotonic())

    def _poll(self) -> None:
        while True:
            try:
                self._handle(self._commands.get_nowait())
            except queue.Empty:
                break
        if not self._pairer.recording:
            return
        now = self.graph.now_ns()
        self._emit(now)
        limit = self.config.max_episode_s
        if limit and self._stopping is None and time.monotonic() - self._episode_started >= limit:
            self.logger.info("max_episode_s reached: saving the episode")
            self._finish("save")
        if self._stopping is not None and self._pairer.finished(now):
            self._complete()

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        while self._rate_window and now - self._rate_window[0] > 2.0:
            self._rate_window.popleft()
        rate = (len(self._rate_window) - 1) / 2.0 if len(self._rate_window) > 1 else 0.0
        counters = self._pairer.counters.as_dict()
        recording = self._pairer.recording
        problems = (
            counters["dropped"]
            + counters["late_state"]
            + counters["no_state"]
            + self._recorder.writer_overflow
        )
        if self._recorder.last_error:
            level, message = itf.DiagnosticLevel.ERROR, f"writer error: {self._recorder.last_error}"
        elif recording and problems:
            level, message = itf.DiagnosticLevel.WARN, "recording with dropped or late frames"
        else:
            level, message = itf.DiagnosticLevel.OK, "recording" if recording else "idle"
        summaries = self._recorder.summaries()
        saved = [s for s in summaries if s.outcome == "saved"]
        values: dict[str, object] = {
            "state": "recording" if recording else ("saving" if self._recorder.busy else "idle"),
            "task": self._task,
            "episodes_in_dataset": self._recorder.num_episodes,
            "saved_this_run": len(saved),
            "rate_hz": rate,
            "writer_overflow": self._recorder.writer_overflow,
            "last_save_s": saved[-1].save_s if saved else float("nan"),
            **counters,
        }
        status = itf.DiagnosticStatusData(
            name=f"{self.graph.node_name}: recorder",
            level=level,
            message=message,
            values=itf.diagnostic_values(values),
        )
        self._pub_diag.publish(itf.DiagnosticArrayData(status=(status,), stamp_ns=self.graph.now_ns()))


def main(argv: list[str] | None = None) -> int:
    """``recorder_node`` executable."""
    return node_main(RecorderNode, argv)


if __name__ == "__main__":
    raise SystemExit(main())
