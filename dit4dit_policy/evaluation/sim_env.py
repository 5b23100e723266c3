"""In-process simulation environment for the protocol runner: MuJoCo G1 + a policy, simulated time.

:class:`SimRolloutEnvironment` satisfies
:class:`~dit4dit_policy.evaluation.interface.RolloutEnvironment` over the simulator's gymnasium
environment (:class:`~dit4dit_policy.sim.env.G1TabletopEnv`: 16-D absolute targets at 30 Hz) and a
:class:`SimPolicy` that returns action chunks. Each ``poll()`` advances the simulation by
``steps_per_poll`` control steps: when the executing chunk is used up (``execute_steps`` of its
points), the policy is queried on the current observation and its inference time is measured on
the wall clock. Success comes from the task's predicate; the runner applies the time limit on the
simulated clock, so results do not depend on the machine's speed.

Policies: :class:`ScriptedExpertPolicy` (the simulator's scripted experts, privileged state) and
:class:`CheckpointPolicy` (a DiT4DiT checkpoint through ``DiT4DiTPolicy.predict_chunk``, i.e. the
training transforms).

Torch-free at import (the checkpoint policy takes an already loaded model).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.errors import SchemaMismatchError
from dit4dit_policy.evaluation.interface import Phase, RecordedFrame, RolloutStatus

if TYPE_CHECKING:
    from dit4dit_policy.sim.env import EnvConfig, G1TabletopEnv

logger = logging.getLogger(__name__)

_NS_PER_S = 1_000_000_000


class SimPolicy(Protocol):
    """A policy the simulation environment can run.

    Attributes:
        name: short description for results headers (e.g. ``"scripted-expert"``).
        needs_images: whether :meth:`predict` uses ``observation.image`` (else rendering is skipped
            unless the rollout is recorded).
    """

    name: str
    needs_images: bool

    def reset(self, env: G1TabletopEnv, instruction: str) -> None:
        """Called after each ``env.reset``; scripted experts may read privileged state here."""

    def predict(self, observation: schema.Observation) -> np.ndarray:
        """(H, 16) absolute joint targets [rad | opening], point k due k/30 s after the observation.

        ``observation.stamp_ns`` is the simulated time since the rollout started [ns].
        """


class ScriptedExpertPolicy:
    """The simulator's scripted expert as a chunk policy.

    The expert is open loop after its plan (its IK integrates its own commands), so its targets are
    a function of the step index; chunks are slices of that sequence, extended lazily, and the
    result does not depend on how many points of each chunk the environment executes.

    Args:
        horizon: chunk length H (default 16, ``schema.ACTION_HORIZON``).
    """

    name = "scripted-expert"
    needs_images = False

    def __init__(self, horizon: int = schema.ACTION_HORIZON) -> None:
        from dit4dit_policy.sim.experts import ScriptedExpert

        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.horizon = horizon
        self._expert = ScriptedExpert()
        self._targets: list[np.ndarray] = []

    def reset(self, env: G1TabletopEnv, instruction: str) -> None:
        """Plan the episode from the environment's privileged state."""
        self._expert.reset(env)
        self._targets = []

    def predict(self, observation: schema.Observation) -> np.ndarray:
        """Targets for steps k..k+H−1, k = the observation's step index."""
        step = round(observation.stamp_ns / _NS_PER_S * schema.CONTROL_RATE_HZ)
        while len(self._targets) < step + self.horizon:
            self._targets.append(self._expert.act())
        return np.stack(self._targets[step : step + self.horizon])


class CheckpointPolicy:
    """A loaded DiT4DiT policy (``dit4dit_policy.model``) as a chunk policy.

    Args:
        policy: a ``DiT4DiTPolicy`` in eval mode with normalisation statistics.
        name: description for results headers (e.g. the checkpoint id).
        seed: base seed of the flow-matching noise; the chunk of call i uses ``seed + i`` (None:
            fresh noise each call).
    """

    needs_images = True

    def __init__(self, policy: Any, name: str, seed: int | None = None) -> None:
        self._policy = policy
        self.name = name
        self.seed = seed
        self._calls = 0

    def reset(self, env: G1TabletopEnv, instruction: str) -> None:
        """Nothing to plan; the noise sequence restarts."""
        self._calls = 0

    def predict(self, observation: schema.Observation) -> np.ndarray:
        """``DiT4DiTPolicy.predict_chunk`` (same transforms as training)."""
        seed = None if self.seed is None else self.seed + self._calls
        self._calls += 1
        return np.asarray(self._policy.predict_chunk(observation, seed=seed).positions)


class HoldPolicy:
    """Baseline that does nothing: every chunk holds the state measured at the rollout's start.

    A task whose success predicate passes under this policy is broken; its success rate is the
    floor any real policy must beat.

    Args:
        horizon: chunk length H.
    """

    name = "hold"
    needs_images = False

    def __init__(self, horizon: int = schema.ACTION_HORIZON) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.horizon = horizon
        self._hold: np.ndarray | None = None

    def reset(self, env: G1TabletopEnv, instruction: str) -> None:
        """Forget the held pose."""
        self._hold = None

    def predict(self, observation: schema.Observation) -> np.ndarray:
        """(H, 16) copies of the first observed state."""
        if self._hold is None:
            self._hold = np.asarray(observation.state, dtype=np.float64).copy()
        return np.tile(self._hold, (self.horizon, 1))


@dataclasses.dataclass
class SimRolloutOptions:
    """How the in-process simulation runs a policy.

    Attributes:
        execute_steps: chunk points executed before the policy is queried again (1..H; 16 = the whole
            chunk open loop, as the authors' evaluation does, g1_spec §7.2).
        steps_per_poll: control steps per ``poll()``; 1 makes the time limit exact to one step.
        render: render the ego camera every step (needed for recordings and image policies).
        realtime: pace the simulation to the wall clock (rehearsing the real-robot protocol).
    """

    execute_steps: int = schema.ACTION_HORIZON
    steps_per_poll: int = 1
    render: bool = True
    realtime: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.execute_steps <= 256:
            raise ValueError(f"execute_steps must be in [1, 256], got {self.execute_steps}")
        if not 1 <= self.steps_per_poll <= 300:
            raise ValueError(f"steps_per_poll must be in [1, 300], got {self.steps_per_poll}")


class SimRolloutEnvironment:
    """The MuJoCo G1 tabletop simulation and a policy, in this process.

    Args:
        policy: the chunk policy.
        env_config: simulator options (scene, image size); default ``EnvConfig()``.
        options: execution options.

    One simulator environment is built per task on first use and reused across rollouts.
    """

    #: ``poll()`` advances the simulation itself: the runner never sleeps between polls.
    self_paced = True

    def __init__(
        self, policy: SimPolicy, env_config: EnvConfig | None = None, options: SimRolloutOptions | None = None
    ) -> None:
        self.policy = policy
        self.env_config = env_config
        self.options = options or SimRolloutOptions()
        self._envs: dict[str, G1TabletopEnv] = {}
        self._env: G1TabletopEnv | None = None
        self._estop = threading.Event()
        self._running = False
        self._status = RolloutStatus(Phase.RUNNING, 0.0)
        self._obs: dict[str, np.ndarray] | None = None
        self._instruction = ""
        self._queue: list[np.ndarray] = []
        self._chunk_id = -1
        self._chunk_latency_ms = 0.0
        self._steps = 0
        self._wall_start = 0.0

    @property
    def render_images(self) -> bool:
        """Whether observations carry rendered images."""
        return self.options.render or self.policy.needs_images

    def describe(self) -> dict[str, Any]:
        """JSON-able settings that define the experiment (for the results fingerprint)."""
        from dit4dit_policy.config import to_dict
        from dit4dit_policy.sim.env import EnvConfig

        return {
            "environment": "sim-inprocess",
            "policy": self.policy.name,
            "policy_seed": getattr(self.policy, "seed", None),
            "env_config": to_dict(self.env_config or EnvConfig()),
            "execute_steps": self.options.execute_steps,
        }

    def _env_for(self, task: str) -> G1TabletopEnv:
        env = self._envs.get(task)
        if env is None:
            from dit4dit_policy.sim.env import G1TabletopEnv

            env = G1TabletopEnv(
                task, self.env_config, render_mode="rgb_array" if self.render_images else None
            )
            self._envs[task] = env
        return env

    # -- RolloutEnvironment --------------------------------------------------------------------
    def reset(self, task: str, seed: int) -> str:
        """Reset the task's scene with ``seed``; returns the episode's own instruction.

        Raises:
            ValueError: unknown task name.
        """
        env = self._env_for(task)
        self._env = env
        self._estop.clear()  # a reset re-initialises the simulator
        self._obs, info = env.reset(seed=int(seed))
        self._instruction = str(info["instruction"])
        self.policy.reset(env, self._instruction)
        self._running = False
        self._status = RolloutStatus(Phase.RUNNING, 0.0)
        return self._instruction

    def start(self, instruction: str) -> None:
        """Start the policy on ``instruction`` (the runner passes the episode's or the config's).

        Raises:
            RuntimeError: no reset before start, or the e-stop is engaged.
        """
        if self._env is None or self._obs is None:
            raise RuntimeError("SimRolloutEnvironment.start called before reset")
        if self._estop.is_set():
            raise RuntimeError("e-stop engaged; reset the environment first")
        self._instruction = instruction
        self._queue = []
        self._chunk_id = -1
        self._chunk_latency_ms = 0.0
        self._steps = 0
        self._wall_start = time.monotonic()
        self._running = True

    def poll(self) -> RolloutStatus:
        """Advance up to ``steps_per_poll`` control steps; report frames, chunk latencies and the phase."""
        env, obs = self._env, self._obs
        if not self._running or env is None or obs is None:
            return RolloutStatus(
                self._status.phase,
                self._status.elapsed_s,
                reason=self._status.reason,
                metrics=self._status.metrics,
            )
        frames: list[RecordedFrame] = []
        latencies: list[float] = []
        phase, reason = Phase.RUNNING, ""
        info: dict[str, Any] = {}
        for _ in range(self.options.steps_per_poll):
            if self._estop.is_set():
                phase, reason = Phase.FAULT, "e-stop"
                break
            elapsed = self._steps * schema.ACTION_DT_S
            if not self._queue:
                fault = self._query(obs, elapsed, latencies)
                if fault:
                    phase, reason = Phase.FAULT, fault
                    break
            action = self._queue.pop(0)
            if self.render_images:
                frames.append(
                    RecordedFrame(
                        obs["image"],
                        obs["state"].astype(np.float64),
                        action.astype(np.float64),
                        elapsed,
                        self._chunk_id,
                        self._chunk_latency_ms,
                    )
                )
            obs, _, _, _, info = env.step(action)
            self._steps += 1
            if info["success"]:
                phase, reason = Phase.SUCCESS, "success predicate"
                break
        self._obs = obs
        elapsed = self._steps * schema.ACTION_DT_S
        if self.options.realtime:
            lag = elapsed - (time.monotonic() - self._wall_start)
            if lag > 0:
                time.sleep(lag)
        metrics = {k: float(v) for k, v in (info.get("metrics") or env.task.metrics()).items()}
        self._status = RolloutStatus(phase, elapsed, frames, latencies, reason, metrics)
        if phase.terminal:
            self._running = False
        return self._status

    def _query(self, obs: dict[str, np.ndarray], elapsed_s: float, latencies: list[float]) -> str:
        """Ask the policy for a chunk; returns a fault description or ''."""
        image = obs["image"] if self.policy.needs_images else np.zeros((2, 2, 3), np.uint8)
        stamp = round(elapsed_s * _NS_PER_S)
        observation = schema.Observation(
            image, stamp, obs["state"].astype(np.float64), stamp, self._instruction
        )
        start = time.perf_counter()
        chunk = self.policy.predict(observation)
        latency_ms = 1e3 * (time.perf_counter() - start)
        latencies.append(latency_ms)
        try:
            chunk = _check_chunk(chunk)
        except SchemaMismatchError as exc:
            logger.error("policy returned an unusable chunk: %s", exc)
            return f"policy output: {exc}"
        self._chunk_id += 1
        self._chunk_latency_ms = latency_ms
        self._queue = list(chunk[: self.options.execute_steps])
        return ""

    def stop(self) -> None:
        """Stop the policy; the simulation freezes in the final state (nothing more is stepped)."""
        self._running = False

    def home(self) -> None:
        """Release the e-stop; nothing to move (the next ``reset`` puts the arms in the ready pose)."""
        self._estop.clear()

    def estop(self) -> None:
        """Engage the e-stop (thread-safe): the next poll ends the rollout as a fault."""
        self._estop.set()

    def close(self) -> None:
        """Close every simulator environment."""
        for env in self._envs.values():
            env.close()
        self._envs.clear()
        self._env = None


def _check_chunk(chunk: Any) -> np.ndarray:
    array = np.asarray(chunk, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] != schema.NUM_JOINTS:
        raise SchemaMismatchError(f"a chunk must have shape (H >= 1, {schema.NUM_JOINTS}), got {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0]
        raise SchemaMismatchError(f"a chunk must be finite; first non-finite at point {bad[0]}, dim {bad[1]}")
    return array
