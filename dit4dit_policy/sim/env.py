"""Gymnasium environment: the simulated G1 at a table, driven by 16-D absolute joint targets at 30 Hz.

``reset(seed)`` randomises the task from the seed (same seed → same episode), puts the arms in the
ready pose with the grippers open and returns the first observation. ``step(action)`` takes the
16-D vector of absolute targets (schema order: 14 arm joints [rad], 2 gripper openings), moves the
arm targets linearly from the previous action to it over the 1/30 s period (as the controller's
chunk scheduler interpolates between chunk points, DESIGN.md §2) and runs the physics with the
robot's PD law (:mod:`dit4dit_policy.sim.actuation`, weight 1, default gains, gravity as the
feed-forward torque). The scripted experts act through exactly this interface, so their
demonstrations are reproducible by a policy.

Observations: ``{"image": (H, W, 3) uint8 ego RGB, "state": (16,) float32 measured joints}``.
Reward 1.0 on the step the success predicate holds, else 0.0; ``terminated`` on success (config),
``truncated`` at the task's time limit.

Torch-free.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import gymnasium
import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.errors import SchemaMismatchError
from dit4dit_policy.sim.actuation import MotorCommand, MotorController
from dit4dit_policy.sim.camera import EgoCameraRenderer
from dit4dit_policy.sim.scene import SceneBuilder, SceneConfig
from dit4dit_policy.sim.tasks import Task, make_task

#: Ready pose of the arms (14,) [rad], schema order: the IK solution for both grasp centres at
#: (0.28, ±0.24, 0.90) m with the approach axis pitched 0.5 rad below horizontal — hands raised
#: above the near edge of the table, clear of every object. Episodes start here.
READY_ARM_POSE = np.array(
    [0.04, 0.316, 0.331, -0.586, -0.26, 1.109, -0.214, 0.04, -0.316, -0.331, -0.586, 0.26, 1.109, 0.214]
)
READY_ARM_POSE.setflags(write=False)
#: Ready 16-D vector: ready arms, grippers open.
READY_STATE = np.concatenate([READY_ARM_POSE, [1.0, 1.0]])
READY_STATE.setflags(write=False)


@dataclasses.dataclass
class EnvConfig:
    """Options of :class:`G1TabletopEnv`.

    Attributes:
        scene: scene options (physics step, image size, calibration, meshes).
        gravity_feedforward: add the simulator's gravity torque as ``τ_ff`` (the controller's RNEA
            feed-forward, g1_spec §2.2); False leaves the PD law alone (larger sag).
        interpolate_targets: ramp arm targets over each 1/30 s period (else step changes).
        terminate_on_success: end the episode on the first successful step.
        settle_s: physics time run at reset so objects come to rest [s].

    Raises:
        ValueError: out-of-range values.
    """

    scene: SceneConfig = dataclasses.field(default_factory=SceneConfig)
    gravity_feedforward: bool = True
    interpolate_targets: bool = True
    terminate_on_success: bool = True
    settle_s: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 <= self.settle_s <= 2.0:
            raise ValueError(f"settle_s must be in [0, 2] s, got {self.settle_s}")


class G1TabletopEnv(gymnasium.Env):
    """The G1 tabletop simulation as a gymnasium environment.

    Args:
        task: registry name (``close_drawer``, ``pick_place``, ``stack_cups``, ``<name>_heldout``)
            or an unbound :class:`~dit4dit_policy.sim.tasks.Task`.
        config: environment options.
        render_mode: ``"rgb_array"`` (the ego view) or None.

    Raises:
        ValueError: unknown task or render mode.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["rgb_array"],
        "render_fps": int(schema.CONTROL_RATE_HZ),
    }

    def __init__(
        self,
        task: str | Task = "close_drawer",
        config: EnvConfig | None = None,
        render_mode: str | None = "rgb_array",
    ):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        self.config = config or EnvConfig()
        self.render_mode = render_mode
        self.task = make_task(task) if isinstance(task, str) else task
        builder = SceneBuilder(self.config.scene)
        self.task.build(builder)
        self.scene = builder.compile()
        self.task.bind(self.scene)
        self.controller = MotorController(self.scene)
        self.control_dt = schema.ACTION_DT_S
        self.max_steps = round(self.task.time_limit_s * schema.CONTROL_RATE_HZ)
        h, w = self.config.scene.image_height, self.config.scene.image_width
        self.observation_space = gymnasium.spaces.Dict(
            {
                "image": gymnasium.spaces.Box(0, 255, (h, w, 3), np.uint8),
                "state": gymnasium.spaces.Box(
                    schema.POSITION_LOWER.astype(np.float32),
                    schema.POSITION_UPPER.astype(np.float32),
                    dtype=np.float32,
                ),
            }
        )
        self.action_space = gymnasium.spaces.Box(
            schema.POSITION_LOWER.astype(np.float32),
            schema.POSITION_UPPER.astype(np.float32),
            dtype=np.float32,
        )
        self._renderer: EgoCameraRenderer | None = None
        self._target = READY_STATE.copy()
        self._steps = 0
        self._t0 = 0.0
        self._seed: int | None = None

    # -- gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """Start an episode; ``seed`` fixes the randomisation (same seed → same initial state)."""
        import mujoco

        super().reset(seed=seed)
        self._seed = seed
        model, data = self.scene.model, self.scene.data
        mujoco.mj_resetData(model, data)
        self.scene.set_robot_state(READY_ARM_POSE, READY_STATE[schema.GRIPPERS])
        self.task.reset(self.np_random)
        self._target = READY_STATE.copy()
        self._apply_target(self._target)
        mujoco.mj_forward(model, data)
        settle_steps = round(self.config.settle_s / model.opt.timestep)
        for _ in range(settle_steps):
            mujoco.mj_step(model, data)
        self._t0 = float(data.time)
        self._steps = 0
        return self._observation(), self._info(success=self.task.success())

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        """Advance 1/30 s towards the 16-D absolute target ``action``.

        Raises:
            SchemaMismatchError: action not 16 finite numbers.
        """
        import mujoco

        action = self._validate(action)
        model, data = self.scene.model, self.scene.data
        previous = self._target
        self._target = action
        t_start = self._t0 + self._steps * self.control_dt
        t_end = t_start + self.control_dt
        dt = model.opt.timestep
        while data.time < t_end - 0.5 * dt:
            alpha = 1.0
            if self.config.interpolate_targets:
                alpha = min(max((data.time + dt - t_start) / self.control_dt, 0.0), 1.0)
            self._apply_target(previous + alpha * (action - previous))
            mujoco.mj_step(model, data)
        self._steps += 1
        success = self.task.success()
        terminated = bool(success and self.config.terminate_on_success)
        truncated = bool(self._steps >= self.max_steps and not terminated)
        return self._observation(), 1.0 if success else 0.0, terminated, truncated, self._info(success)

    def render(self) -> np.ndarray | None:
        """The current ego view, (H, W, 3) uint8 RGB (None when render_mode is None)."""
        if self.render_mode is None:
            return None
        return self._render()

    def close(self) -> None:
        """Release the renderer."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # -- helpers -------------------------------------------------------------------------------
    @property
    def elapsed_s(self) -> float:
        """Episode time [s]."""
        return self._steps * self.control_dt

    @property
    def target(self) -> np.ndarray:
        """(16,) the last commanded target."""
        return self._target.copy()

    def _validate(self, action: np.ndarray) -> np.ndarray:
        try:
            action = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise SchemaMismatchError(
                f"action must be 16 numbers in schema.JOINT_NAMES order, got {action!r}"
            ) from exc
        if action.shape != (schema.NUM_JOINTS,):
            raise SchemaMismatchError(
                f"action must have shape (16,) in schema.JOINT_NAMES order "
                f"(14 arm targets [rad], 2 gripper openings), got {action.shape}"
            )
        if not np.all(np.isfinite(action)):
            raise SchemaMismatchError(
                f"action must be finite; non-finite at dims {np.flatnonzero(~np.isfinite(action)).tolist()}"
            )
        return np.clip(action, schema.POSITION_LOWER, schema.POSITION_UPPER)

    def _apply_target(self, target: np.ndarray) -> None:
        self.controller.set(
            MotorCommand.hold_arms(target[schema.ARMS]),
            weight=1.0,
            gravity_feedforward=self.config.gravity_feedforward,
        )
        self.controller.set_grippers(target[schema.GRIPPERS])

    def _render(self) -> np.ndarray:
        if self._renderer is None:
            self._renderer = EgoCameraRenderer(
                self.scene.model,
                self.config.scene.image_width,
                self.config.scene.image_height,
                self.scene.hidden_groups,
            )
        return self._renderer.render(self.scene.data)

    def _observation(self) -> dict[str, np.ndarray]:
        image = (
            self._render()
            if self.render_mode is not None
            else np.zeros(self.observation_space["image"].shape, np.uint8)
        )
        return {"image": image, "state": self.scene.state16()}

    def _info(self, success: bool) -> dict[str, Any]:
        layout = self.task.layout
        return {
            "task": self.task.full_name,
            "instruction": layout.instruction if layout else "",
            "seed": self._seed,
            "success": bool(success),
            "elapsed_s": self.elapsed_s,
            "metrics": self.task.metrics(),
        }


def task_instructions(task: str, seeds: int = 200) -> list[str]:
    """The distinct instructions ``task`` produces over seeds ``0 … seeds-1`` (sorted; no rendering).

    For caching a policy's prompt embeddings ahead of an evaluation (``dit4dit cache-prompts``).

    Raises:
        ValueError: unknown task name.
    """
    env = G1TabletopEnv(task, render_mode=None)
    try:
        found = set()
        for seed in range(seeds):
            _, info = env.reset(seed=seed)
            found.add(info["instruction"])
        return sorted(found)
    finally:
        env.close()
