"""Policy node: newest ego frame + joint state → action chunk (trajectory_msgs/JointTrajectory).

Inference runs on a worker thread so the executor keeps receiving frames; a new chunk is requested
before the executing one runs out (``trigger: horizon``: when the time left on the last published
chunk drops below the measured inference latency plus a margin) or at a fixed rate
(``trigger: rate``). A chunk is never built from a frame older than ``max_frame_age_s``, from a
stale joint state, or without a task instruction. Chunks are stamped with the observation time
and carry points at ``k·dt`` (DESIGN.md §2); per-stage milliseconds go to ``/diagnostics``.

Predictors:

* ``checkpoint`` — the DiT4DiT model (``model.load_policy``; the only path that imports torch).
* ``scripted`` — the simulator's scripted expert, served by the simulator bridge (``dit4dit sim
  --policy scripted``): runs the same node graph without a learned model.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Literal, Protocol

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.graph import Handle, LifecycleNode
from dit4dit_policy.ros.launcher import node_main


class ChunkPredictor(Protocol):
    """Maps one observation to one action chunk.

    ``last_timings_ms`` holds the per-stage milliseconds of the last call (for diagnostics).
    """

    last_timings_ms: dict[str, float]

    def predict(self, observation: schema.Observation) -> schema.ActionChunk:
        """Chunk of absolute 16-D targets stamped with ``observation.stamp_ns``."""


@dataclasses.dataclass
class PolicyNodeConfig:
    """Parameters of the policy node (``policy_node: ros__parameters:``)."""

    #: which predictor produces chunks
    predictor: Literal["checkpoint", "scripted"] = "checkpoint"
    #: checkpoint directory (predictor=checkpoint)
    checkpoint: str = ""
    #: torch device for the model ("cuda", "cpu")
    device: str = "cuda"
    #: instruction until one arrives on /dit4dit/task (empty: wait for the topic)
    task: str = ""
    #: when to start the next inference: "horizon" (before the current chunk runs out) or "rate"
    trigger: Literal["horizon", "rate"] = "horizon"
    #: inference rate for trigger=rate [Hz]
    rate_hz: float = 5.0
    #: start the next inference when the last chunk has less than latency + this margin left [s]
    horizon_margin_s: float = 0.25
    #: frames older than this are never used [s]
    max_frame_age_s: float = 0.2
    #: joint states older than this are never used [s]
    max_state_age_s: float = 0.1
    #: random seed of the flow-matching noise (negative: fresh noise every call)
    seed: int = -1
    #: torch intra-op threads (0: torch's default; 1 when the CPU is shared with a simulator)
    torch_threads: int = 0
    #: scripted predictor: topic on which the simulator bridge serves the expert's chunk
    expert_topic: str = "/sim/expert/action_chunk"
    #: diagnostics period [s]
    diagnostics_period_s: float = 1.0

    def __post_init__(self) -> None:
        if self.predictor == "checkpoint" and not self.checkpoint:
            raise ValueError("predictor 'checkpoint' needs the checkpoint directory")
        for name in ("rate_hz", "max_frame_age_s", "max_state_age_s", "diagnostics_period_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.horizon_margin_s < 0:
            raise ValueError(f"horizon_margin_s must be >= 0, got {self.horizon_margin_s}")


class ExpertRelayPredictor:
    """Scripted predictor: returns the newest expert chunk served by the simulator bridge.

    The expert plans from privileged simulator state, so it lives in the bridge process; this
    predictor only re-stamps its latest chunk with the observation time.

    Args:
        max_age_s: an expert chunk older than this is not used [s].
    """

    def __init__(self, max_age_s: float = 0.5) -> None:
        self.max_age_s = max_age_s
        self.last_timings_ms: dict[str, float] = {}
        self._lock = threading.Lock()
        self._latest: itf.TrajectoryData | None = None

    def on_expert_chunk(self, traj: itf.TrajectoryData) -> None:
        """Subscription callback for the bridge's expert chunks."""
        with self._lock:
            self._latest = traj

    def predict(self, observation: schema.Observation) -> schema.ActionChunk:
        """The expert's latest chunk on the expert's own clock.

        The expert's targets are indexed by its own episode clock (it plans open loop from the
        reset state), so the chunk keeps the bridge's stamp instead of the observation's: re-stamping
        it to an older frame would replay the plan early by the frame's age.

        Raises:
            LookupError: no expert chunk yet, or it is stale.
        """
        start = time.perf_counter()
        with self._lock:
            traj = self._latest
        if traj is None or (time.time_ns() - traj.stamp_ns) > self.max_age_s * 1e9:
            raise LookupError("no recent expert chunk from the simulator bridge")
        positions = reorder(traj, schema.JOINT_NAMES)
        chunk = schema.ActionChunk(
            positions=positions, times_ns=traj.stamp_ns + traj.time_from_start_ns, stamp_ns=traj.stamp_ns
        )
        self.last_timings_ms = {"total": (time.perf_counter() - start) * 1e3}
        return chunk


class CheckpointPredictor:
    """The DiT4DiT model from a checkpoint directory (imports torch).

    Args:
        checkpoint: checkpoint directory.
        device: torch device.
        seed: flow-matching noise seed (negative: fresh noise).
        torch_threads: intra-op threads (0: torch's default).
        warmup_task: if set, one inference on a blank frame at load time, so the first real chunk
            is not delayed by lazy initialisation (first calls are several times slower).
    """

    def __init__(
        self, checkpoint: str, device: str, seed: int, torch_threads: int = 0, warmup_task: str = ""
    ) -> None:
        import torch

        from dit4dit_policy.model import load_policy

        if torch_threads > 0:
            torch.set_num_threads(torch_threads)
        self.policy = load_policy(checkpoint, device=device)
        self.seed = None if seed < 0 else seed
        self.last_timings_ms: dict[str, float] = {}
        if warmup_task:
            now = time.time_ns()
            blank = schema.Observation(
                np.zeros((96, 128, 3), np.uint8),
                now,
                np.zeros(schema.NUM_JOINTS, np.float32),
                now,
                warmup_task,
            )
            self.policy.predict_chunk(blank, seed=0)

    def predict(self, observation: schema.Observation) -> schema.ActionChunk:
        """One forward pass of the policy (see DiT4DiTPolicy.predict_chunk)."""
        chunk = self.policy.predict_chunk(observation, seed=self.seed)
        self.last_timings_ms = dict(self.policy.last_timings_ms)
        return chunk


def reorder(traj: itf.TrajectoryData | itf.JointStateData, names: tuple[str, ...]) -> np.ndarray:
    """Columns of a trajectory (or the positions of a joint state) in ``names`` order.

    Raises:
        ValueError: a name is missing from the message.
    """
    source = traj.joint_names if isinstance(traj, itf.TrajectoryData) else traj.names
    index = {name: i for i, name in enumerate(source)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ValueError(f"message lacks joints {missing}")
    columns = [index[n] for n in names]
    if isinstance(traj, itf.TrajectoryData):
        return traj.positions[:, columns]
    return traj.position[columns]


def chunk_to_trajectory(chunk: schema.ActionChunk) -> itf.TrajectoryData:
    """ActionChunk → TrajectoryData (header stamp = observation time, offsets from it)."""
    return itf.TrajectoryData(
        joint_names=schema.JOINT_NAMES,
        positions=chunk.positions,
        time_from_start_ns=chunk.times_ns - chunk.stamp_ns,
        stamp_ns=chunk.stamp_ns,
    )


class PolicyNode(LifecycleNode):
    """Runs the policy asynchronously on the newest observation and publishes action chunks."""

    NAME = "policy_node"
    CONFIG = PolicyNodeConfig

    def __init__(self, graph, config, predictor_factory: Callable[[], ChunkPredictor] | None = None) -> None:
        super().__init__(graph, config)
        self._predictor_factory = predictor_factory

    # Lifecycle ----------------------------------------------------------------------------------

    def on_configure(self) -> bool:
        """Lifecycle ``configure``: load the predictor, create topics."""
        cfg: PolicyNodeConfig = self.config
        self._lock = threading.Lock()
        self._frame: itf.ImageFrame | None = None
        self._state: itf.JointStateData | None = None
        self._task = cfg.task
        self._busy = threading.Event()
        self._worker: threading.Thread | None = None
        self._active = False
        self._last_chunk_end_ns = 0
        self._latency_s = 0.0
        self._counters = dict.fromkeys(
            ("chunks", "skipped_stale_frame", "skipped_stale_state", "late_chunk", "no_chunk", "errors"), 0
        )
        self._last_timings: dict[str, float] = {}
        self._expert: ExpertRelayPredictor | None = None
        # Subscriptions and timers, destroyed in on_cleanup (a cleanup → configure cycle must not
        # leave the old callbacks attached).
        self._handles: list[Handle] = []
        if self._predictor_factory is not None:
            self.predictor = self._predictor_factory()
        elif cfg.predictor == "scripted":
            self._expert = ExpertRelayPredictor()
            self.predictor = self._expert
            self._handles.append(
                self.graph.create_subscription(
                    cfg.expert_topic,
                    itf.MsgKind.JOINT_TRAJECTORY,
                    itf.RELIABLE_QOS,
                    self._expert.on_expert_chunk,
                )
            )
        else:
            self.predictor = CheckpointPredictor(
                cfg.checkpoint, cfg.device, cfg.seed, cfg.torch_threads, warmup_task=cfg.task or "warm up"
            )
        self._pub_chunk = self.graph.create_publisher(
            itf.TOPIC_ACTION_CHUNK, itf.MsgKind.JOINT_TRAJECTORY, itf.RELIABLE_QOS
        )
        self._pub_diag = self.graph.create_publisher(
            itf.TOPIC_DIAGNOSTICS, itf.MsgKind.DIAGNOSTICS, itf.RELIABLE_QOS
        )
        period = 1.0 / cfg.rate_hz if cfg.trigger == "rate" else 0.01
        self._handles += [
            self.graph.create_subscription(
                itf.TOPIC_IMAGE, itf.MsgKind.IMAGE, itf.SENSOR_QOS, self._on_image
            ),
            self.graph.create_subscription(
                itf.TOPIC_JOINT_STATES, itf.MsgKind.JOINT_STATE, itf.SENSOR_QOS, self._on_state
            ),
            self.graph.create_subscription(
                itf.TOPIC_TASK, itf.MsgKind.STRING, itf.RELIABLE_QOS, self._on_task
            ),
            self.graph.create_subscription(
                itf.TOPIC_COMMAND, itf.MsgKind.STRING, itf.RELIABLE_QOS, self._on_command
            ),
            self.graph.create_timer(period, self._maybe_infer),
            self.graph.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics),
        ]
        return True

    def on_activate(self) -> bool:
        """Lifecycle ``activate``: start producing chunks."""
        self._active = True
        return True

    def on_deactivate(self) -> bool:
        """Lifecycle ``deactivate``: stop producing chunks (the controller holds when chunks go stale)."""
        self._active = False
        # Let an in-flight inference finish: a thread still inside torch at interpreter exit aborts.
        if self._worker is not None:
            self._worker.join(timeout=30.0)
        return True

    def on_cleanup(self) -> bool:
        """Lifecycle ``cleanup``: destroy the subscriptions and timers and drop the model.

        A later ``configure`` loads the (possibly changed) checkpoint again. The graph interface
        cannot destroy publishers; the two stay, idle.
        """
        for handle in self._handles:
            handle.destroy()
        self._handles = []
        self.predictor = None
        self._expert = None
        with self._lock:
            self._frame = None
            self._state = None
        return True

    # Inputs -------------------------------------------------------------------------------------

    def _on_image(self, frame: itf.ImageFrame) -> None:
        with self._lock:
            self._frame = frame

    def _on_state(self, state: itf.JointStateData) -> None:
        with self._lock:
            self._state = state

    def _on_task(self, task: str) -> None:
        if task.strip() and task != self._task:
            self.logger.info("task: %r", task)
            self._task = task
            self._last_chunk_end_ns = 0  # replan at once for a new instruction

    def _on_command(self, command: str) -> None:
        if command in ("stop", "estop", "reset"):
            self._last_chunk_end_ns = 0

    # Inference ----------------------------------------------------------------------------------

    def _due(self, now_ns: int) -> bool:
        if self.config.trigger == "rate":
            return True
        remaining_s = (self._last_chunk_end_ns - now_ns) / 1e9
        return remaining_s < self._latency_s + self.config.horizon_margin_s

    def _maybe_infer(self) -> None:
        if not self._active or self._busy.is_set() or not self._task:
            return
        now = time.time_ns()
        if not self._due(now):
            return
        with self._lock:
            frame, state = self._frame, self._state
        if frame is None or state is None:
            return
        if now - frame.stamp_ns > self.config.max_frame_age_s * 1e9:
            self._counters["skipped_stale_frame"] += 1
            return
        if now - state.stamp_ns > self.config.max_state_age_s * 1e9:
            self._counters["skipped_stale_state"] += 1
            return
        try:
            observation = schema.Observation(
                image=np.array(frame.rgb),  # writable copy: DDS buffers are read-only
                image_stamp_ns=frame.stamp_ns,
                state=reorder(state, schema.JOINT_NAMES).astype(np.float32),
                state_stamp_ns=state.stamp_ns,
                task=self._task,
            )
        except ValueError as exc:
            self._counters["errors"] += 1
            self.logger.warning("observation rejected: %s", exc)
            return
        self._busy.set()
        threading.Thread(
            target=self._infer, args=(observation,), name="policy-inference", daemon=True
        ).start()

    def _infer(self, observation: schema.Observation) -> None:
        start = time.perf_counter()
        try:
            chunk = self.predictor.predict(observation)
            # Re-check freshness after inference: never publish a chunk whose observation is too old
            # to be useful (the frame aged while the model ran).
            age_s = (time.time_ns() - observation.stamp_ns) / 1e9
            if age_s > self.config.max_frame_age_s + self._latency_budget_s(chunk):
                self._counters["late_chunk"] += 1
                return
            if self._active:
                self._pub_chunk.publish(chunk_to_trajectory(chunk))
                self._counters["chunks"] += 1
                self._last_chunk_end_ns = int(chunk.times_ns[-1])
        except LookupError as exc:
            self._counters["no_chunk"] += 1
            self.logger.debug("no chunk: %s", exc)
        except Exception:
            self._counters["errors"] += 1
            self.logger.exception("inference failed")
        finally:
            elapsed = time.perf_counter() - start
            self._latency_s = elapsed if self._latency_s == 0 else 0.8 * self._latency_s + 0.2 * elapsed
            self._last_timings = dict(getattr(self.predictor, "last_timings_ms", {}))
            self._busy.clear()

    @staticmethod
    def _latency_budget_s(chunk: schema.ActionChunk) -> float:
        # A chunk is useful while its points are still ahead; allow up to half its span of ageing.
        return 0.5 * (int(chunk.times_ns[-1]) - int(chunk.times_ns[0])) / 1e9

    def _publish_diagnostics(self) -> None:
        values: dict[str, object] = dict(self._counters)
        values["latency_ms"] = self._latency_s * 1e3
        values["task"] = self._task or "<none>"
        values.update({f"{k}_ms": v for k, v in self._last_timings.items()})
        if self._counters["errors"]:
            level, message = itf.DiagnosticLevel.ERROR, "inference errors"
        elif not self._task:
            level, message = itf.DiagnosticLevel.WARN, "waiting for a task on /dit4dit/task"
        elif self._counters["chunks"] == 0:
            level, message = itf.DiagnosticLevel.WARN, "no chunk yet"
        else:
            level, message = itf.DiagnosticLevel.OK, "running"
        status = itf.DiagnosticStatusData(
            name=f"{self.graph.node_name}: inference",
            level=level,
            message=message,
            values=itf.diagnostic_values(values),
        )
        self._pub_diag.publish(itf.DiagnosticArrayData(status=(status,), stamp_ns=self.graph.now_ns()))


def main(argv: list[str] | None = None) -> int:
    """``policy_node`` executable."""
    return node_main(PolicyNode, argv)


if __name__ == "__main__":
    raise SystemExit(main())
