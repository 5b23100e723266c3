"""Building blocks for task objects: graspable free bodies, a bowl, a cabinet with a drawer.

Each ``add_*`` function adds bodies to a ``mujoco.MjSpec`` (build time); the ``ObjectHandle``
helpers move and recolour them in a compiled :class:`~dit4dit_policy.sim.scene.Scene` (reset time,
no recompilation). Object sizes are chosen to be clearly visible in a 64-128 px ego image and to
fit the gripper's 8 cm jaw.

Torch-free.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from dit4dit_policy.sim.scene import GRASP_FRICTION, ROBOT_CONTYPE, WORLD_CONAFFINITY, WORLD_CONTYPE, Scene

if TYPE_CHECKING:
    import mujoco

#: A drawer collides with the robot only (not with its cabinet or the table): its own contype bit.
DRAWER_CONTYPE = 4


def add_free_box(spec: mujoco.MjSpec, name: str, half_size: float, mass: float) -> None:
    """A cube of half edge ``half_size`` [m] and mass [kg] on a free joint ``<name>_joint``."""
    import mujoco

    body = spec.worldbody.add_body(name=name)
    body.add_freejoint(name=f"{name}_joint")
    body.add_geom(
        name=name,
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[half_size] * 3,
        mass=mass,
        condim=4,
        friction=list(GRASP_FRICTION),
        contype=WORLD_CONTYPE,
        conaffinity=WORLD_CONAFFINITY,
    )


def add_free_cylinder(spec: mujoco.MjSpec, name: str, radius: float, half_height: float, mass: float) -> None:
    """An upright cylinder (radius, half height [m]) on a free joint ``<name>_joint``, with a rim band."""
    import mujoco

    body = spec.worldbody.add_body(name=name)
    body.add_freejoint(name=f"{name}_joint")
    body.add_geom(
        name=name,
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[radius, half_height, 0.0],
        mass=mass,
        condim=4,
        friction=list(GRASP_FRICTION),
        contype=WORLD_CONTYPE,
        conaffinity=WORLD_CONAFFINITY,
    )
    # A darker disc on top makes the top face readable from the head camera (visual only).
    body.add_geom(
        name=f"{name}_top",
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[radius * 0.8, 0.001, 0.0],
        pos=[0.0, 0.0, half_height],
        rgba=[0.1, 0.1, 0.1, 1.0],
        contype=0,
        conaffinity=0,
        density=0.0,
    )


def add_bowl(spec: mujoco.MjSpec, name: str, inner_radius: float, height: float, wall: float = 0.012) -> None:
    """A static open bowl on the table: a flat bottom and a ring of wall segments.

    Args:
        spec: scene spec.
        name: body name (geoms ``<name>_bottom``, ``<name>_wall<i>``).
        inner_radius: inside radius of the wall [m].
        height: wall height above the table [m].
        wall: wall thickness [m].
    """
    import mujoco

    body = spec.worldbody.add_body(name=name)
    outer = inner_radius + wall
    body.add_geom(
        name=f"{name}_bottom",
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[outer, 0.004, 0.0],
        pos=[0.0, 0.0, 0.004],
        contype=WORLD_CONTYPE,
        conaffinity=WORLD_CONAFFINITY,
    )
    segments = 16
    half_len = (inner_radius + wall / 2.0) * math.tan(math.pi / segments) + 0.002
    for i in range(segments):
        angle = 2.0 * math.pi * i / segments
        r = inner_radius + wall / 2.0
        body.add_geom(
            name=f"{name}_wall{i}",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[wall / 2.0, half_len, height / 2.0],
            pos=[r * math.cos(angle), r * math.sin(angle), height / 2.0],
            quat=[math.cos(angle / 2.0), 0.0, 0.0, math.sin(angle / 2.0)],
            contype=WORLD_CONTYPE,
            conaffinity=WORLD_CONAFFINITY,
        )


def add_cabinet(spec: mujoco.MjSpec, name: str, size: tuple[float, float, float], travel: float) -> None:
    """A static cabinet opening towards −x with a drawer on a slide joint ``<name>_drawer_joint``.

    The drawer joint is 0 when closed and increases as the drawer comes out towards the robot.

    Args:
        spec: scene spec.
        name: cabinet body name; the drawer body is ``<name>_drawer``.
        size: outer depth (x), width (y), height (z) [m].
        travel: maximum drawer opening [m].
    """
    import mujoco

    depth, width, height = size
    t = 0.012  # panel thickness [m]
    body = spec.worldbody.add_body(name=name)
    panels = {
        "top": ([depth / 2, width / 2, t / 2], [0.0, 0.0, height - t / 2]),
        "bottom": ([depth / 2, width / 2, t / 2], [0.0, 0.0, t / 2]),
        "left": ([depth / 2, t / 2, height / 2], [0.0, width / 2 - t / 2, height / 2]),
        "right": ([depth / 2, t / 2, height / 2], [0.0, -width / 2 + t / 2, height / 2]),
        "back": ([t / 2, width / 2, height / 2], [depth / 2 - t / 2, 0.0, height / 2]),
    }
    for panel, (half, pos) in panels.items():
        body.add_geom(
            name=f"{name}_{panel}",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=half,
            pos=pos,
            contype=WORLD_CONTYPE,
            conaffinity=WORLD_CONAFFINITY,
        )
    inner_h = height - 2 * t
    drawer = body.add_body(name=f"{name}_drawer", pos=[0.0, 0.0, height / 2])
    drawer.add_joint(
        name=f"{name}_drawer_joint",
        type=mujoco.mjtJoint.mjJNT_SLIDE,
        axis=[-1.0, 0.0, 0.0],
        range=[0.0, travel],
        limited=mujoco.mjtLimited.mjLIMITED_TRUE,
        damping=8.0,
        frictionloss=1.0,
        armature=0.5,
    )
    box_depth = depth - t - 0.004
    # Drawer box (its front face flush with the cabinet front when closed) and a front panel.
    drawer.add_geom(
        name=f"{name}_drawer_box",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[box_depth / 2, width / 2 - t - 0.003, inner_h / 2 - 0.004],
        pos=[-depth / 2 + box_depth / 2, 0.0, 0.0],
        mass=0.6,
        contype=DRAWER_CONTYPE,
        conaffinity=ROBOT_CONTYPE,
    )
    drawer.add_geom(
        name=f"{name}_drawer_front",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[t / 2, width / 2, height / 2 - 0.002],
        pos=[-depth / 2 - t / 2, 0.0, 0.0],
        mass=0.2,
        contype=DRAWER_CONTYPE,
        conaffinity=ROBOT_CONTYPE,
    )
    drawer.add_geom(
        name=f"{name}_drawer_handle",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[0.012, 0.05, 0.008],
        pos=[-depth / 2 - t - 0.012, 0.0, 0.0],
        mass=0.05,
        contype=DRAWER_CONTYPE,
        conaffinity=ROBOT_CONTYPE,
    )


class ObjectHandle:
    """Run-time access to one body of a compiled scene (pose, velocity, colour).

    Args:
        scene: compiled scene.
        name: body name.

    Raises:
        KeyError: no such body.
    """

    def __init__(self, scene: Scene, name: str) -> None:
        import mujoco

        model = scene.model
        self.scene = scene
        self.name = name
        self.body_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
        if self.body_id < 0:
            raise KeyError(f"scene has no body {name!r}")
        self.geom_ids = np.flatnonzero(model.geom_bodyid == self.body_id)
        jnt = model.body_jntadr[self.body_id]
        self.free = jnt >= 0 and model.jnt_type[jnt] == mujoco.mjtJoint.mjJNT_FREE
        self.qadr = int(model.jnt_qposadr[jnt]) if self.free else -1
        self.dadr = int(model.jnt_dofadr[jnt]) if self.free else -1

    @property
    def pos(self) -> np.ndarray:
        """(3,) world position of the body frame [m] (valid after mj_forward/mj_step)."""
        return self.scene.data.xpos[self.body_id].copy()

    @property
    def speed(self) -> float:
        """Linear speed of a free body [m/s] (0 for static bodies)."""
        if not self.free:
            return 0.0
        return float(np.linalg.norm(self.scene.data.qvel[self.dadr : self.dadr + 3]))

    def place(self, pos: np.ndarray, yaw: float = 0.0) -> None:
        """Put the body at ``pos`` [m] with heading ``yaw`` [rad] and zero velocity.

        Free bodies are moved through their joint; static bodies through the model's body_pos.
        """
        quat = [math.cos(yaw / 2.0), 0.0, 0.0, math.sin(yaw / 2.0)]
        if self.free:
            self.scene.data.qpos[self.qadr : self.qadr + 3] = pos
            self.scene.data.qpos[self.qadr + 3 : self.qadr + 7] = quat
            self.scene.data.qvel[self.dadr : self.dadr + 6] = 0.0
        else:
            self.scene.model.body_pos[self.body_id] = pos
            self.scene.model.body_quat[self.body_id] = quat

    def set_color(self, rgba: tuple[float, ...], geom_ids: np.ndarray | None = None) -> None:
        """Recolour the body's geoms (or the given subset)."""
        ids = self.geom_ids if geom_ids is None else geom_ids
        self.scene.model.geom_rgba[ids] = rgba
