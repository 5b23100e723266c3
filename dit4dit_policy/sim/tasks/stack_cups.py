"""Stack one cup on another (modelled on the paper's ``stack_cups`` task, g1_spec intro).

Two upright cups (cylinders, 6 cm wide, 7 cm tall) of different colours: the one on the outer part
of a side goes on top of the one near the middle. Held-out variant: unseen colours
(:data:`~base.HELDOUT_COLORS`).
"""

from __future__ import annotations

import numpy as np

from dit4dit_policy.sim.scene import TABLE_HEIGHT_M, Scene, SceneBuilder
from dit4dit_policy.sim.tasks.base import COLORS, HELDOUT_COLORS, TRAIN_COLORS, Layout, Task
from dit4dit_policy.sim.tasks.objects import ObjectHandle, add_free_cylinder

CUP_RADIUS_M = 0.03
CUP_HALF_HEIGHT_M = 0.035
CUP_MASS_KG = 0.06
MOVE_X_M = (0.29, 0.36)
MOVE_ABS_Y_M = (0.15, 0.25)
BASE_X_M = (0.30, 0.36)
BASE_Y_M = (-0.05, 0.03)


class StackCups(Task):
    """Stack the outer cup on the middle cup; success = resting on top, centred, released."""

    name = "stack_cups"
    time_limit_s = 10.0
    summary = "stack one cup on the other (held-out: unseen colours)"

    def build(self, builder: SceneBuilder) -> None:
        """Add the two cups."""
        for name in ("obj_cup_move", "obj_cup_base"):
            add_free_cylinder(builder.spec, name, CUP_RADIUS_M, CUP_HALF_HEIGHT_M, CUP_MASS_KG)

    def bind(self, scene: Scene) -> None:
        """Cache the cup handles."""
        super().bind(scene)
        self.move = ObjectHandle(scene, "obj_cup_move")
        self.base = ObjectHandle(scene, "obj_cup_base")

    def reset(self, rng: np.random.Generator) -> Layout:
        """Random side, cup positions and two distinct colours."""
        arm = int(rng.integers(2))
        sign = 1.0 if arm == 0 else -1.0
        z = TABLE_HEIGHT_M + CUP_HALF_HEIGHT_M
        move = np.array([rng.uniform(*MOVE_X_M), sign * rng.uniform(*MOVE_ABS_Y_M), z])
        base = np.array([rng.uniform(*BASE_X_M), sign * rng.uniform(*BASE_Y_M), z])
        palette = TRAIN_COLORS if self.variant == "train" else HELDOUT_COLORS
        move_color, base_color = (str(c) for c in rng.choice(palette, size=2, replace=False))
        self.move.place(move)
        self.base.place(base)
        self.move.set_color(COLORS[move_color], self.move.geom_ids[:1])
        self.base.set_color(COLORS[base_color], self.base.geom_ids[:1])
        self.layout = Layout(
            instruction=f"stack the {move_color} cup on the {base_color} cup",
            arm=arm,
            poses={"move": move, "base": base},
            colors={"move": move_color, "base": base_color},
            extra={"cup_radius": CUP_RADIUS_M, "cup_half_height": CUP_HALF_HEIGHT_M},
        )
        return self.layout

    def success(self) -> bool:
        """Moved cup centred (< 2 cm) on the upright base cup, one cup height above it, released, at rest."""
        top, base = self.move.pos, self.base.pos
        centred = np.linalg.norm(top[:2] - base[:2]) < 0.02
        on_top = abs(top[2] - base[2] - 2 * CUP_HALF_HEIGHT_M) < 0.01
        base_upright = abs(base[2] - TABLE_HEIGHT_M - CUP_HALF_HEIGHT_M) < 0.005
        released = (
            self.scene.contacts_between(self.scene.finger_geom_ids, frozenset(self.move.geom_ids.tolist()))
            == 0
        )
        return bool(centred and on_top and base_upright and released and self.move.speed < 0.05)

    def metrics(self) -> dict[str, float]:
        """Horizontal distance between the cups [m]."""
        return {"cup_distance_m": float(np.linalg.norm(self.move.pos[:2] - self.base.pos[:2]))}
