"""Teleoperate the in-process simulator and record it — no DDS graph, no controller node.

For operator practice with a headset, demos without ROS, tests and the docs. Each 30 Hz step:

1. the teleop session maps the newest headset pose to a 16-D target, seeded and re-seeded from the
   simulator's measured state (:class:`~dit4dit_policy.teleop.session.TeleopSession`);
2. the frame rendered at step k, the state measured at step k and the target commanded at step k
   go through the same :class:`~dit4dit_policy.record.pairing.FramePairer` and
   :class:`~dit4dit_policy.record.recorder.EpisodeRecorder` as the recorder node, stamped with the
   simulation clock (frame k at ``t0 + k/30 s``);
3. ``env.step(target)`` moves the arms (the environment's PD law; joint limits clamped).

The simulator's environment stands in for the controller here, so its safety filter is not in the
loop; recording on the robot or in the full simulated graph uses the recorder node. Torch-free.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.record.pairing import Chunk, FramePairer, PairingConfig
from dit4dit_policy.record.recorder import EpisodeRecorder
from dit4dit_policy.teleop.retarget import RetargetResult
from dit4dit_policy.teleop.session import TeleopSession


class SimRecordingSession:
    """In-process simulator teleoperation with recording.

    Args:
        env: a :class:`~dit4dit_policy.sim.env.G1TabletopEnv` with ``render_mode="rgb_array"``.
        session: the teleop session (server + retargeter).
        recorder: where episodes go (None: practice without recording).
        task: instruction of the recorded episodes.
    """

    def __init__(self, env: Any, session: TeleopSession, recorder: EpisodeRecorder | None, task: str) -> None:
        self.env = env
        self.session = session
        self.recorder = recorder
        self.task = task
        self.fps = int(schema.CONTROL_RATE_HZ)
        self.period_ns = round(1e9 / self.fps)
        self.pairer = FramePairer(PairingConfig(), self.fps)
        self._delay_ns = round(self.pairer.config.pairing_delay_s * 1e9) + 1
        self._obs: dict[str, np.ndarray] | None = None
        self._t_ns = time.time_ns()
        self._success: bool | None = None
        self.last_info: dict[str, Any] = {}

    @property
    def recording(self) -> bool:
        """An episode is being recorded."""
        return self.pairer.recording

    def reset(self, seed: int | None = None) -> None:
        """Reset the simulated scene (the teleop command re-seeds from the new measured state)."""
        self._obs, self.last_info = self.env.reset(seed=seed)
        self.session.retargeter.seed(self._obs["state"].astype(np.float64))

    def start_episode(self) -> None:
        """Start recording from the next step.

        Raises:
            RuntimeError: no recorder.
        """
        if self.recorder is None:
            raise RuntimeError("this session was created without a recorder")
        if not self.pairer.recording:
            self.pairer.start(self._t_ns)
            self._success = None

    def mark(self, success: bool) -> None:
        """Mark the episode in progress."""
        self._success = success

    def _flush(self) -> None:
        assert self.recorder is not None
        for frame in self.pairer.poll(self._t_ns + self._delay_ns):
            self.recorder.add(frame)

    def stop_episode(self, save: bool = True) -> None:
        """Finish the episode: save it with the task (or discard it)."""
        if self.recorder is None or not self.pairer.recording:
            return
        self.pairer.request_stop(self._t_ns)
        self._flush()
        counters = self.pairer.counters
        if save and counters.frames:
            self.recorder.save(self.task, counters, self._success)
        else:
            self.recorder.discard(self.task, counters, "operator")
        self.pairer.close()

    def step(self) -> RetargetResult:
        """One 30 Hz step (see the module docstring)."""
        if self._obs is None:
            self.reset()
        assert self._obs is not None
        dt_s = 1.0 / self.fps
        result = self.session.tick(dt_s, self._obs["state"].astype(np.float64))
        if self.pairer.recording:
            t = self._t_ns
            self.pairer.push_state(t, self._obs["state"])
            self.pairer.push_chunk(Chunk(t, np.array([t]), result.target[None, :].copy()))
            self.pairer.push_frame(t, self._obs["image"], t)
            self._flush()
        self._obs, _reward, _terminated, _truncated, self.last_info = self.env.step(result.target)
        self.session.applied(result)
        self._t_ns += self.period_ns
        return result
