"""Push an open drawer closed (modelled on the paper's drawer interaction task, g1_spec §7.3).

A cabinet (24 cm wide, 14 cm tall) stands in the middle of the table, between the hands' ready
positions, with its drawer pulled out towards the robot; the right arm pushes it shut. The easiest
task to learn from a low-resolution ego image: one large, high-contrast object and a
one-dimensional motion. Held-out variant: drawer
fronts in unseen colours.
"""

from __future__ import annotations

import numpy as np

from dit4dit_policy.sim.scene import TABLE_HEIGHT_M, Scene, SceneBuilder
from dit4dit_policy.sim.tasks.base import COLORS, HELDOUT_COLORS, TRAIN_COLORS, Layout, Task
from dit4dit_policy.sim.tasks.objects import ObjectHandle, add_cabinet

#: Cabinet outer depth, width, height [m] and drawer travel [m].
CABINET_SIZE_M = (0.20, 0.24, 0.14)
DRAWER_TRAVEL_M = 0.15
#: Panel thickness of the cabinet [m] (objects.add_cabinet).
PANEL_M = 0.012
CABINET_COLORS = ("white", "gray", "brown")
#: Sampling ranges [m]: cabinet front face x and centre y, and the initial opening.
FRONT_X_M = (0.38, 0.42)
CENTER_Y_M = (-0.05, 0.05)
OPENING_M = (0.07, 0.11)
#: Closed when the drawer is within this distance of fully shut [m].
CLOSED_TOLERANCE_M = 0.01


class CloseDrawer(Task):
    """Push the drawer shut with the right hand; success = opening below 1 cm."""

    name = "close_drawer"
    time_limit_s = 6.0
    summary = "push the open drawer closed (held-out: unseen drawer colours)"

    def build(self, builder: SceneBuilder) -> None:
        """Add the cabinet with its drawer."""
        add_cabinet(builder.spec, "obj_cabinet", CABINET_SIZE_M, DRAWER_TRAVEL_M)

    def bind(self, scene: Scene) -> None:
        """Cache the cabinet handle and the drawer joint address."""
        import mujoco

        super().bind(scene)
        self.cabinet = ObjectHandle(scene, "obj_cabinet")
        self.drawer = ObjectHandle(scene, "obj_cabinet_drawer")
        joint = mujoco.mj_name2id(scene.model, mujoco.mjtObj.mjOBJ_JOINT, "obj_cabinet_drawer_joint")
        self._qadr = int(scene.model.jnt_qposadr[joint])
        self._dadr = int(scene.model.jnt_dofadr[joint])

    @property
    def opening(self) -> float:
        """Current drawer opening [m] (0 = shut)."""
        return float(self.scene.data.qpos[self._qadr])

    def reset(self, rng: np.random.Generator) -> Layout:
        """Random cabinet position, opening and colours."""
        depth, _, height = CABINET_SIZE_M
        front_x = float(rng.uniform(*FRONT_X_M))
        center = np.array([front_x + depth / 2.0, rng.uniform(*CENTER_Y_M), TABLE_HEIGHT_M])
        opening = float(rng.uniform(*OPENING_M))
        self.cabinet.place(center)
        self.scene.data.qpos[self._qadr] = opening
        self.scene.data.qvel[self._dadr] = 0.0
        body_color = str(rng.choice(CABINET_COLORS))
        palette = TRAIN_COLORS if self.variant == "train" else HELDOUT_COLORS
        front_color = str(rng.choice(palette))
        self.cabinet.set_color(COLORS[body_color])
        self.drawer.set_color(COLORS[front_color])
        # Face of the drawer front (towards the robot) when shut; the drawer adds its opening.
        face_closed = np.array([front_x - PANEL_M, center[1], TABLE_HEIGHT_M + height / 2.0])
        self.layout = Layout(
            instruction="push the drawer closed",
            arm=1,
            poses={"cabinet": center, "drawer_face_closed": face_closed},
            colors={"cabinet": body_color, "drawer": front_color},
            extra={"opening": opening},
        )
        return self.layout

    def success(self) -> bool:
        """Drawer opening below :data:`CLOSED_TOLERANCE_M`."""
        return self.opening < CLOSED_TOLERANCE_M

    def metrics(self) -> dict[str, float]:
        """Current opening [m]."""
        return {"drawer_opening_m": self.opening}
