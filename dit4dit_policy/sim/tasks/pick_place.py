"""Pick an object and place it in a bowl (modelled on the paper's pick-and-place tasks, g1_spec intro).

Training variant: a 5 cm cube in one of :data:`~base.TRAIN_COLORS`. Held-out variant: an unseen
object, a 5 cm-wide can (cylinder), in the same colours. The object lies on the outer part of one
side of the table and the bowl near the middle, so the arm on the object's side does the task.
"""

from __future__ import annotations

import numpy as np

from dit4dit_policy.sim.scene import TABLE_HEIGHT_M, Scene, SceneBuilder
from dit4dit_policy.sim.tasks.base import COLORS, TRAIN_COLORS, Layout, Task
from dit4dit_policy.sim.tasks.objects import ObjectHandle, add_bowl, add_free_box, add_free_cylinder

#: Object half size [m] (cube half edge; can radius) and can half height [m].
OBJECT_HALF_M = 0.025
CAN_HALF_HEIGHT_M = 0.035
OBJECT_MASS_KG = 0.08
#: Bowl inner radius and wall height [m].
BOWL_RADIUS_M = 0.07
BOWL_HEIGHT_M = 0.04
BOWL_COLORS = ("white", "gray")
#: Sampling ranges [m] (x forward, |y| on the acting arm's side) and object yaw [rad].
OBJECT_X_M = (0.29, 0.36)
OBJECT_ABS_Y_M = (0.15, 0.25)
BOWL_X_M = (0.335, 0.37)
BOWL_Y_M = (-0.05, 0.02)
OBJECT_YAW_RAD = 0.5


class PickPlace(Task):
    """Put the object in the bowl; success = object inside the bowl, released and at rest."""

    name = "pick_place"
    time_limit_s = 10.0
    summary = "pick the cube (held-out: a can) and put it in the bowl"

    def build(self, builder: SceneBuilder) -> None:
        """Add the object and the bowl."""
        if self.variant == "train":
            add_free_box(builder.spec, "obj_target", OBJECT_HALF_M, OBJECT_MASS_KG)
        else:
            add_free_cylinder(builder.spec, "obj_target", OBJECT_HALF_M, CAN_HALF_HEIGHT_M, OBJECT_MASS_KG)
        add_bowl(builder.spec, "obj_bowl", BOWL_RADIUS_M, BOWL_HEIGHT_M)

    def bind(self, scene: Scene) -> None:
        """Cache the object handles."""
        super().bind(scene)
        self.target = ObjectHandle(scene, "obj_target")
        self.bowl = ObjectHandle(scene, "obj_bowl")

    @property
    def object_half_height(self) -> float:
        """Half height of the object [m]."""
        return OBJECT_HALF_M if self.variant == "train" else CAN_HALF_HEIGHT_M

    def reset(self, rng: np.random.Generator) -> Layout:
        """Random side, object and bowl positions, object yaw and colours."""
        arm = int(rng.integers(2))
        sign = 1.0 if arm == 0 else -1.0
        obj = np.array(
            [
                rng.uniform(*OBJECT_X_M),
                sign * rng.uniform(*OBJECT_ABS_Y_M),
                TABLE_HEIGHT_M + self.object_half_height,
            ]
        )
        yaw = float(rng.uniform(-OBJECT_YAW_RAD, OBJECT_YAW_RAD))
        bowl = np.array([rng.uniform(*BOWL_X_M), sign * rng.uniform(*BOWL_Y_M), TABLE_HEIGHT_M])
        color = str(rng.choice(TRAIN_COLORS))
        bowl_color = str(rng.choice(BOWL_COLORS))
        self.target.place(obj, yaw)
        self.bowl.place(bowl)
        self.target.set_color(COLORS[color], self.target.geom_ids[:1])
        self.bowl.set_color(COLORS[bowl_color])
        noun = "cube" if self.variant == "train" else "can"
        self.layout = Layout(
            instruction=f"put the {color} {noun} in the bowl",
            arm=arm,
            poses={"object": obj, "bowl": bowl},
            colors={"object": color, "bowl": bowl_color},
            extra={"object_yaw": yaw, "object_half_height": self.object_half_height},
        )
        return self.layout

    def success(self) -> bool:
        """Object centre inside the bowl radius, below the rim, not touched by a finger, at rest."""
        obj, bowl = self.target.pos, self.bowl.pos
        inside = np.linalg.norm(obj[:2] - bowl[:2]) < BOWL_RADIUS_M - 0.01
        low = obj[2] < bowl[2] + BOWL_HEIGHT_M + self.object_half_height
        released = (
            self.scene.contacts_between(self.scene.finger_geom_ids, frozenset(self.target.geom_ids.tolist()))
            == 0
        )
        return bool(inside and low and released and self.target.speed < 0.05)

    def metrics(self) -> dict[str, float]:
        """Horizontal object-to-bowl distance [m]."""
        return {"object_bowl_distance_m": float(np.linalg.norm(self.target.pos[:2] - self.bowl.pos[:2]))}
