"""The MuJoCo scene: the G1 description, a table, lights, the ego camera, actuators and a task's objects.

Built with ``mujoco.MjSpec`` from ``urdf/g1_upper_body.urdf`` (:mod:`dit4dit_policy.sim.description`),
so the simulated kinematics are exactly the description's. World frame: origin on the floor below
the pelvis, x forward, y left, z up; the pelvis is fixed at :data:`~description.PELVIS_HEIGHT_M`.

Actuators:

* 17 joint motors (waist 12-14, arms 15-28 in G1 motor order) as MuJoCo ``general`` actuators
  ``τ = ctrl − K·q − D·q̇`` clamped to the motor's torque rating, so the robot's PD law
  (:mod:`dit4dit_policy.sim.actuation`) runs inside the integrator (``implicitfast`` treats the
  damping term implicitly, which keeps the stiff wrist loops stable at 2 ms steps).
* one position servo per gripper on the driving finger; the mimic finger follows through the
  URDF's ``<mimic>`` (a MuJoCo joint equality).

Contacts: robot geoms collide with the world (table, objects) but not with each other; fingers
and objects use elliptic friction cones with torsional friction so grasps hold.

Torch-free.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.sim import description as desc
from dit4dit_policy.sim.camera import CameraIntrinsics, add_ego_camera, find_calibration

if TYPE_CHECKING:
    import mujoco

#: Table top height above the floor [m] and its extent [m] (our scene: a table the G1's hands reach
#: comfortably: hip height, grasp centres x ≈ 0.25-0.40 m; the zero-pose grasp centre is at z ≈ 0.89 m).
TABLE_HEIGHT_M = 0.78
TABLE_X_RANGE_M = (0.25, 0.90)
TABLE_HALF_WIDTH_M = 0.55

#: Collision bit masks: robot geoms (contype ROBOT) touch world geoms (conaffinity includes ROBOT)
#: but not each other.
ROBOT_CONTYPE, ROBOT_CONAFFINITY = 2, 1
WORLD_CONTYPE, WORLD_CONAFFINITY = 1, 3

#: Motor armature [kg·m²] (reflected rotor inertia; unitree_mujoco g1_29dof.xml joint defaults).
MOTOR_ARMATURE = 0.01
#: Gripper servo: stiffness [N/m], damping [N·s/m], force limit [N], finger armature [kg]. Our
#: choice: closes the full stroke in ~0.2 s and squeezes a 5 cm object with ~10 N.
GRIPPER_KP, GRIPPER_KV, GRIPPER_FORCE_N, GRIPPER_ARMATURE = 400.0, 12.0, 20.0, 0.02
#: Friction of fingers and graspable objects: sliding, torsional, rolling (MuJoCo units).
GRASP_FRICTION = (1.5, 0.02, 0.0005)

TABLE_RGBA = (0.72, 0.62, 0.50, 1.0)
FLOOR_RGBA = (0.32, 0.33, 0.36, 1.0)


@dataclasses.dataclass
class SceneConfig:
    """How to build a scene.

    Attributes:
        timestep_s: physics step [s]; 0.002 matches the 500 Hz lowstate of the robot (g1_spec §1.6).
        image_width: ego image width [px]. The default 160×120 keeps the calibrated 4:3 field of
            view (the real camera's 640×480 frame scaled by 1/4); other aspect ratios centre-crop.
        image_height: ego image height [px].
        calibration: CameraInfo YAML with the ego intrinsics (default ``calibration/ego_camera.yaml``).
        mesh_dir: optional directory of Unitree G1 STL meshes used as visuals.
        urdf: optional path to the description (default: the package's ``urdf/``).

    Raises:
        ValueError: out-of-range values.
    """

    timestep_s: float = 0.002
    image_width: int = 160
    image_height: int = 120
    calibration: Path | None = None
    mesh_dir: Path | None = None
    urdf: Path | None = None

    def __post_init__(self) -> None:
        if not 0.0005 <= self.timestep_s <= 0.005:
            raise ValueError(f"timestep_s must be in [0.0005, 0.005] s, got {self.timestep_s}")
        for name in ("image_width", "image_height"):
            value = getattr(self, name)
            if not 16 <= value <= 1280:
                raise ValueError(f"{name} must be in [16, 1280] px, got {value}")


class SceneBuilder:
    """Assembles the spec: robot + table + lights + camera; tasks add their objects to ``spec``.

    Args:
        config: scene options.

    Raises:
        FileNotFoundError: description, calibration or mesh directory missing.
    """

    def __init__(self, config: SceneConfig) -> None:
        import mujoco

        self.config = config
        self.intrinsics = CameraIntrinsics.from_yaml(find_calibration(config.calibration)).resized(
            config.image_width, config.image_height
        )
        spec = desc.load_robot_spec(config.urdf, config.mesh_dir)
        spec.modelname = "g1_tabletop"
        spec.option.timestep = config.timestep_s
        spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
        spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
        spec.option.impratio = 10.0
        spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
        spec.visual.headlight.diffuse = [0.45, 0.45, 0.45]
        spec.visual.headlight.specular = [0.05, 0.05, 0.05]
        spec.visual.quality.shadowsize = 1024
        spec.body("pelvis").pos = [0.0, 0.0, desc.PELVIS_HEIGHT_M]
        self.spec = spec
        self.robot_body_names = tuple(b.name for b in spec.bodies if b.name != "world")
        self._add_world()
        self._configure_robot()
        add_ego_camera(spec, self.intrinsics, desc.CAMERA_LINK)

    # -- world -------------------------------------------------------------------------------
    def _add_world(self) -> None:
        import mujoco

        world = self.spec.worldbody
        world.add_geom(
            name="backdrop",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[0.05, 3.0, 1.5],
            pos=[2.2, 0.0, 1.5],
            rgba=[0.55, 0.58, 0.62, 1.0],
            contype=0,
            conaffinity=0,
        )
        world.add_light(pos=[0.4, 0.6, 2.6], dir=[0.0, -0.3, -1.0], diffuse=[0.5, 0.5, 0.5], castshadow=True)
        world.add_light(
            pos=[0.8, -0.8, 2.2], dir=[-0.3, 0.4, -1.0], diffuse=[0.25, 0.25, 0.25], castshadow=False
        )
        world.add_geom(
            name="floor",
            type=mujoco.mjtGeom.mjGEOM_PLANE,
            size=[3.0, 3.0, 0.05],
            rgba=list(FLOOR_RGBA),
            contype=WORLD_CONTYPE,
            conaffinity=WORLD_CONAFFINITY,
        )
        x0, x1 = TABLE_X_RANGE_M
        table = world.add_body(name="table", pos=[(x0 + x1) / 2.0, 0.0, 0.0])
        half_x = (x1 - x0) / 2.0
        table.add_geom(
            name="table_top",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[half_x, TABLE_HALF_WIDTH_M, 0.02],
            pos=[0.0, 0.0, TABLE_HEIGHT_M - 0.02],
            rgba=list(TABLE_RGBA),
            friction=[1.0, 0.01, 0.0005],
            contype=WORLD_CONTYPE,
            conaffinity=WORLD_CONAFFINITY,
        )
        for sx in (-1, 1):
            for sy in (-1, 1):
                table.add_geom(
                    type=mujoco.mjtGeom.mjGEOM_BOX,
                    size=[0.025, 0.025, (TABLE_HEIGHT_M - 0.04) / 2.0],
                    pos=[
                        sx * (half_x - 0.05),
                        sy * (TABLE_HALF_WIDTH_M - 0.05),
                        (TABLE_HEIGHT_M - 0.04) / 2.0,
                    ],
                    rgba=[0.45, 0.38, 0.3, 1.0],
                    contype=0,
                    conaffinity=0,
                )

    # -- robot -------------------------------------------------------------------------------
    def _configure_robot(self) -> None:
        import mujoco

        spec = self.spec
        robot_bodies = [spec.body(name) for name in self.robot_body_names]
        finger_bodies = {
            spec.joint(j).parent.name for j in (*desc.GRIPPER_JOINTS, *desc.GRIPPER_MIMIC_JOINTS)
        }
        for body in robot_bodies:
            # Gravity compensation is switched per body at run time (actuation.py); a non-zero value at
            # compile time makes MuJoCo compute it at all.
            body.gravcomp = 1.0
            for geom in body.geoms:
                geom.contype, geom.conaffinity = ROBOT_CONTYPE, ROBOT_CONAFFINITY
                if body.name in finger_bodies:
                    geom.condim = 4
                    geom.friction = list(GRASP_FRICTION)
        for name, effort in zip(desc.SIM_MOTOR_JOINTS, desc.SIM_MOTOR_EFFORT, strict=True):
            joint = spec.joint(name)
            joint.armature = MOTOR_ARMATURE
            joint.actgravcomp = True
            act = spec.add_actuator(name=f"motor_{name.removesuffix('_joint')}", target=name)
            act.trntype = mujoco.mjtTrn.mjTRN_JOINT
            act.dyntype = mujoco.mjtDyn.mjDYN_NONE
            act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
            act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
            act.gainprm[0] = 1.0
            act.ctrllimited = mujoco.mjtLimited.mjLIMITED_FALSE
            act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
            act.forcerange = [-float(effort), float(effort)]
        for name in (*desc.GRIPPER_JOINTS, *desc.GRIPPER_MIMIC_JOINTS):
            spec.joint(name).armature = GRIPPER_ARMATURE
        for name in desc.GRIPPER_JOINTS:
            act = spec.add_actuator(name=f"servo_{name.removesuffix('_joint')}", target=name)
            act.trntype = mujoco.mjtTrn.mjTRN_JOINT
            act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
            act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
            act.gainprm[0] = GRIPPER_KP
            act.biasprm[:3] = [0.0, -GRIPPER_KP, -GRIPPER_KV]
            act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
            act.ctrlrange = [0.0, desc.GRIPPER_STROKE_M]
            act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
            act.forcerange = [-GRIPPER_FORCE_N, GRIPPER_FORCE_N]

    def compile(self) -> Scene:
        """Compile the spec into a :class:`Scene` (call after the task has added its objects)."""
        model = self.spec.compile()
        return Scene(model, self)


class Scene:
    """A compiled scene with index maps for the 16-D vector, the motors and the grippers.

    Attributes:
        model: the compiled ``mujoco.MjModel``.
        data: its ``mujoco.MjData``.
        intrinsics: ego-camera intrinsics at the configured image size.
        hidden_groups: geom groups that must not be rendered.
    """

    def __init__(self, model: mujoco.MjModel, builder: SceneBuilder) -> None:
        import mujoco

        self.model = model
        self.data = mujoco.MjData(model)
        self.intrinsics = builder.intrinsics
        self.hidden_groups = (desc.HIDDEN_GEOM_GROUP,)
        self.config = builder.config

        def jid(name: str) -> int:
            return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)

        motor_joints = [jid(n) for n in desc.SIM_MOTOR_JOINTS]
        self.motor_qadr = np.array([model.jnt_qposadr[j] for j in motor_joints])
        self.motor_dadr = np.array([model.jnt_dofadr[j] for j in motor_joints])
        self.arm_qadr = self.motor_qadr[3:]
        self.arm_dadr = self.motor_dadr[3:]
        self.motor_actuators = np.array(
            [
                mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, f"motor_{n.removesuffix('_joint')}")
                for n in desc.SIM_MOTOR_JOINTS
            ]
        )
        self.gripper_actuators = np.array(
            [
                mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, f"servo_{n.removesuffix('_joint')}")
                for n in desc.GRIPPER_JOINTS
            ]
        )
        self.gripper_qadr = np.array([model.jnt_qposadr[jid(n)] for n in desc.GRIPPER_JOINTS])
        self.gripper_dadr = np.array([model.jnt_dofadr[jid(n)] for n in desc.GRIPPER_JOINTS])
        self.mimic_qadr = np.array([model.jnt_qposadr[jid(n)] for n in desc.GRIPPER_MIMIC_JOINTS])
        self.robot_body_ids = np.array(
            [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n) for n in builder.robot_body_names]
        )
        self.tcp_body_ids = np.array(
            [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n) for n in desc.TCP_BODIES]
        )
        self.finger_geom_ids = frozenset(
            int(g)
            for n in (*desc.GRIPPER_JOINTS, *desc.GRIPPER_MIMIC_JOINTS)
            for g in np.flatnonzero(model.geom_bodyid == model.jnt_bodyid[jid(n)])
        )
        if min(motor_joints) < 0 or min(self.motor_actuators) < 0 or min(self.gripper_actuators) < 0:
            raise RuntimeError("scene is missing a motor joint or actuator of the G1 description")

    # -- 16-D state ---------------------------------------------------------------------------
    def arm_q(self) -> np.ndarray:
        """(14,) float64 measured arm joint positions [rad], schema order."""
        return self.data.qpos[self.arm_qadr].copy()

    def arm_dq(self) -> np.ndarray:
        """(14,) float64 measured arm joint velocities [rad/s]."""
        return self.data.qvel[self.arm_dadr].copy()

    def gripper_opening(self) -> np.ndarray:
        """(2,) float64 measured normalised opening of the driving fingers (0 closed, 1 open), clipped."""
        return np.clip(self.data.qpos[self.gripper_qadr] / desc.GRIPPER_STROKE_M, 0.0, 1.0)

    def state16(self) -> np.ndarray:
        """(16,) float32 measured state in schema.JOINT_NAMES order [rad | opening]."""
        return np.concatenate([self.arm_q(), self.gripper_opening()]).astype(np.float32)

    def tcp_pos(self, side: int) -> np.ndarray:
        """(3,) world position [m] of a gripper's grasp centre (0 = left, 1 = right)."""
        return self.data.xpos[self.tcp_body_ids[side]].copy()

    # -- setting state -----------------------------------------------------------------------
    def set_robot_state(self, arm_q: np.ndarray, opening: np.ndarray) -> None:
        """Teleport the arms (14,) [rad] and grippers (2,) [opening] with zero velocity; waist at 0.

        Raises:
            ValueError: wrong shapes.
        """
        arm_q = np.asarray(arm_q, dtype=np.float64)
        opening = np.asarray(opening, dtype=np.float64)
        if arm_q.shape != (schema.NUM_ARM_JOINTS,) or opening.shape != (2,):
            raise ValueError(f"arm_q must be (14,) and opening (2,), got {arm_q.shape} and {opening.shape}")
        self.data.qpos[self.motor_qadr[:3]] = 0.0
        self.data.qpos[self.arm_qadr] = arm_q
        fingers = np.clip(opening, 0.0, 1.0) * desc.GRIPPER_STROKE_M
        self.data.qpos[self.gripper_qadr] = fingers
        self.data.qpos[self.mimic_qadr] = fingers
        self.data.qvel[self.motor_dadr] = 0.0
        self.data.ctrl[self.gripper_actuators] = fingers

    def contacts_between(self, geoms_a: frozenset[int], geoms_b: frozenset[int]) -> int:
        """Number of active contacts between a geom of ``geoms_a`` and one of ``geoms_b``."""
        count = 0
        for i in range(self.data.ncon):
            c = self.data.contact[i]
            g1, g2 = int(c.geom1), int(c.geom2)
            if (g1 in geoms_a and g2 in geoms_b) or (g1 in geoms_b and g2 in geoms_a):
                count += 1
        return count
