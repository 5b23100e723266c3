"""The G1 upper-body description (``urdf/g1_upper_body.urdf``): where it is, what it holds.

The URDF is the project's own file (kinematics, limits and inertials from Unitree's published G1
29-DoF description, g1_spec §2.1 and §5; simple primitive geometry; an ALOHA-style parallel-jaw
gripper per wrist). MuJoCo compiles it directly (its ``<mujoco>`` extension keeps fixed links as
bodies); :func:`load_robot_spec` adds the link colours from the URDF materials and, optionally,
Unitree's STL meshes as visuals.

Torch-free; reads XML with the standard library.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dit4dit_policy import schema

if TYPE_CHECKING:
    import mujoco

URDF_FILENAME = "g1_upper_body.urdf"
#: Environment variable naming a directory that holds ``g1_upper_body.urdf`` (overrides the search).
URDF_DIR_ENV = "DIT4DIT_URDF_DIR"

#: Pelvis height above the floor [m] when standing (unitree_mujoco g1_29dof.xml pelvis pos).
PELVIS_HEIGHT_M = 0.793

#: Finger travel of the parallel-jaw gripper [m]: opening g in [0, 1] → finger position g·stroke
#: (jaw gap 2·g·stroke). Our gripper design (urdf/g1_upper_body.urdf), not a hardware figure.
GRIPPER_STROKE_M = 0.04

#: Dex1-1 motor angle at full opening [rad] (g1_spec §4: np.interp(v, ..., [0.0, 5.4])); the DDS
#: gripper topics carry q = opening·DEX1_OPEN_Q_RAD, 0 = closed.
DEX1_OPEN_Q_RAD = 5.4

#: Waist joints the simulator models, with their G1 motor indices 12-14 (g1_spec §2.1).
WAIST_JOINT_NAMES = ("waist_yaw_joint", "waist_roll_joint", "waist_pitch_joint")
#: The motors the simulator models, in motor-index order: waist 12-14 then arms 15-28.
SIM_MOTOR_INDICES: tuple[int, ...] = tuple(range(12, 29))
SIM_MOTOR_JOINTS: tuple[str, ...] = WAIST_JOINT_NAMES + schema.ARM_JOINT_NAMES
#: Torque limit of the modelled motors [N·m] (waist g1_spec §2.1: yaw 88, roll/pitch 50; arms schema).
SIM_MOTOR_EFFORT = np.array([88.0, 50.0, 50.0, *schema.EFFORT_LIMIT[schema.ARMS]])
SIM_MOTOR_EFFORT.setflags(write=False)

#: Driving and mimic finger joints of each gripper, in 16-D order (left, right).
GRIPPER_JOINTS = ("left_gripper_joint", "right_gripper_joint")
GRIPPER_MIMIC_JOINTS = ("left_gripper_mimic_joint", "right_gripper_mimic_joint")
#: Grasp-centre frames between the fingertips (bodies in the compiled model).
TCP_BODIES = ("left_gripper_tcp", "right_gripper_tcp")
#: Head-camera link (d435_link on torso_link, g1_spec §5).
CAMERA_LINK = "d435_link"

#: Arm pose the built-in (balance-controller) posture loop holds when the arm_sdk weight is 0:
#: arms hanging beside the body, elbows slightly bent (14,) [rad], schema.ARM_JOINT_NAMES order.
#: Our approximation; the sources do not publish the locomotion controller's arm pose.
DEFAULT_ARM_POSE = np.array(
    [0.3, 0.25, 0.0, 0.9, 0.0, 0.0, 0.0, 0.3, -0.25, 0.0, 0.9, 0.0, 0.0, 0.0], dtype=np.float64
)
DEFAULT_ARM_POSE.setflags(write=False)

#: Links whose Unitree STL meshes can replace our primitives as visuals (file ``<link>.STL``).
MESH_LINKS = (
    "pelvis",
    "waist_yaw_link",
    "waist_roll_link",
    "torso_link",
    *(
        f"{side}_{part}_link"
        for side in ("left", "right")
        for part in (*schema.ARM_JOINT_SUFFIXES[:3], "elbow", *schema.ARM_JOINT_SUFFIXES[4:])
    ),
)
#: Extra meshes Unitree attaches to torso_link at a fixed offset [m] (g1_29dof.xml head/logo geoms).
TORSO_EXTRA_MESHES = ("head_link", "logo_link", "waist_support_link")
TORSO_EXTRA_OFFSET_M = (0.0039635, 0.0, -0.054)

#: Geom groups: primitives are drawn in group 0; when Unitree meshes are loaded they are drawn in
#: group 2 and the primitives they replace move to group 3 (not rendered, still colliding).
MESH_GEOM_GROUP = 2
HIDDEN_GEOM_GROUP = 3


@dataclasses.dataclass(frozen=True)
class UrdfJoint:
    """One ``<joint>`` of the URDF.

    Attributes:
        name: joint name.
        type: ``revolute``, ``prismatic``, ``fixed``, ...
        parent: parent link.
        child: child link.
        xyz: origin translation [m].
        rpy: origin roll, pitch, yaw [rad].
        axis: unit axis in the child frame (zeros for fixed joints).
        lower: lower limit [rad | m] (nan if none).
        upper: upper limit [rad | m] (nan if none).
        effort: effort limit [N·m | N] (nan if none).
        velocity: velocity limit [rad/s | m/s] (nan if none).
        mimic: the joint this one mimics, if any.
    """

    name: str
    type: str
    parent: str
    child: str
    xyz: tuple[float, float, float]
    rpy: tuple[float, float, float]
    axis: tuple[float, float, float]
    lower: float
    upper: float
    effort: float
    velocity: float
    mimic: str | None


def find_urdf(path: str | Path | None = None) -> Path:
    """Locate ``g1_upper_body.urdf``.

    Search order: ``path`` (a file or a directory), ``$DIT4DIT_URDF_DIR``, the source tree
    (``<repo>/urdf``), then the installed share directory (``<prefix>/share/dit4dit_policy/urdf``).

    Raises:
        FileNotFoundError: nothing found; the message lists the places searched.
    """
    candidates: list[Path] = []
    if path is not None:
        p = Path(path).expanduser()
        candidates.append(p / URDF_FILENAME if p.is_dir() else p)
    elif os.environ.get(URDF_DIR_ENV):
        candidates.append(Path(os.environ[URDF_DIR_ENV]).expanduser() / URDF_FILENAME)
    else:
        candidates.append(Path(__file__).resolve().parents[2] / "urdf" / URDF_FILENAME)
        candidates.append(Path(sys.prefix) / "share" / "dit4dit_policy" / "urdf" / URDF_FILENAME)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"G1 description {URDF_FILENAME} not found (searched: {searched})")


def _floats(text: str | None, n: int, default: float = 0.0) -> tuple[float, ...]:
    if text is None:
        return (default,) * n
    values = tuple(float(v) for v in text.split())
    if len(values) != n:
        raise ValueError(f"expected {n} numbers, got {text!r}")
    return values


@lru_cache(maxsize=8)
def _read_joints(path: Path) -> dict[str, UrdfJoint]:
    root = ET.parse(path).getroot()
    joints: dict[str, UrdfJoint] = {}
    for el in root.findall("joint"):
        origin = el.find("origin")
        limit = el.find("limit")
        mimic = el.find("mimic")
        axis = el.find("axis")

        def lim(attr: str, limit: ET.Element | None = limit) -> float:
            return float(limit.get(attr)) if limit is not None and limit.get(attr) is not None else math.nan

        kind = el.get("type", "")
        joints[el.get("name", "")] = UrdfJoint(
            name=el.get("name", ""),
            type=kind,
            parent=el.find("parent").get("link", ""),  # type: ignore[union-attr]
            child=el.find("child").get("link", ""),  # type: ignore[union-attr]
            xyz=_floats(origin.get("xyz") if origin is not None else None, 3),  # type: ignore[arg-type]
            rpy=_floats(origin.get("rpy") if origin is not None else None, 3),  # type: ignore[arg-type]
            axis=(0.0, 0.0, 0.0)
            if kind == "fixed"
            else _floats(axis.get("xyz") if axis is not None else "1 0 0", 3),  # type: ignore[arg-type]
            lower=lim("lower"),
            upper=lim("upper"),
            effort=lim("effort"),
            velocity=lim("velocity"),
            mimic=mimic.get("joint") if mimic is not None else None,
        )
    return joints


def read_urdf_joints(path: str | Path | None = None) -> dict[str, UrdfJoint]:
    """All joints of the description, by name (see :class:`UrdfJoint`).

    Raises:
        FileNotFoundError: no URDF (see :func:`find_urdf`).
        ValueError: a malformed origin/axis attribute.
    """
    return dict(_read_joints(find_urdf(path)))


def read_link_colors(path: str | Path | None = None) -> dict[str, tuple[float, float, float, float]]:
    """RGBA of each link's first visual material (resolving named ``<material>`` definitions)."""
    root = ET.parse(find_urdf(path)).getroot()
    named: dict[str, tuple[float, ...]] = {}
    for mat in root.findall("material"):
        color = mat.find("color")
        if color is not None:
            named[mat.get("name", "")] = _floats(color.get("rgba"), 4, 1.0)
    colors: dict[str, tuple[float, float, float, float]] = {}
    for link in root.findall("link"):
        mat = link.find("visual/material")
        if mat is None:
            continue
        color = mat.find("color")
        rgba = _floats(color.get("rgba"), 4, 1.0) if color is not None else named.get(mat.get("name", ""))
        if rgba is not None:
            colors[link.get("name", "")] = rgba  # type: ignore[assignment]
    return colors


def gripper_stroke_from_urdf(path: str | Path | None = None) -> float:
    """Upper limit of the driving finger joints [m]; both grippers must agree.

    Raises:
        ValueError: the two grippers differ, or a finger joint has a lower limit other than 0.
    """
    joints = read_urdf_joints(path)
    strokes = set()
    for name in GRIPPER_JOINTS + GRIPPER_MIMIC_JOINTS:
        joint = joints[name]
        if joint.lower != 0.0:
            raise ValueError(f"gripper joint {name} must have lower limit 0 (closed), got {joint.lower}")
        strokes.add(joint.upper)
    if len(strokes) != 1:
        raise ValueError(f"gripper finger joints disagree on their stroke: {sorted(strokes)}")
    return strokes.pop()


def _find_mesh(mesh_dir: Path, link: str) -> Path | None:
    for name in (f"{link}.STL", f"{link}.stl", f"{link}_rev_1_0.STL", f"{link}_rev_1_0.stl"):
        candidate = mesh_dir / name
        if candidate.is_file():
            return candidate
    return None


def load_robot_spec(urdf: str | Path | None = None, mesh_dir: str | Path | None = None) -> mujoco.MjSpec:
    """Compile-ready MuJoCo spec of the robot alone (pelvis fixed at the world origin).

    Geoms take their link's URDF material colour. With ``mesh_dir`` (a directory of Unitree's
    ``<link>.STL`` files, e.g. unitree_mujoco ``unitree_robots/g1/meshes``), every link with a mesh
    there gets it as a non-colliding visual in group :data:`MESH_GEOM_GROUP` and its primitives
    move to :data:`HIDDEN_GEOM_GROUP` (still colliding, not rendered). Links without a mesh keep
    their primitives.

    Args:
        urdf: URDF file or directory (default: :func:`find_urdf`).
        mesh_dir: optional directory of Unitree STL meshes.

    Raises:
        FileNotFoundError: no URDF, or ``mesh_dir`` is given but is not a directory.
    """
    import mujoco

    path = find_urdf(urdf)
    spec = mujoco.MjSpec.from_file(str(path))
    # The URDF's visual elements were dropped while parsing (they duplicate the collisions); keep the
    # purely visual geoms added later (scene decoration, Unitree meshes).
    spec.compiler.discardvisual = False
    colors = read_link_colors(path)
    for body in spec.bodies:
        rgba = colors.get(body.name)
        if rgba is None:
            continue
        for geom in body.geoms:
            geom.rgba = list(rgba)
    if mesh_dir is not None:
        _add_meshes(spec, Path(mesh_dir).expanduser(), colors)
    return spec


def _add_meshes(spec: mujoco.MjSpec, mesh_dir: Path, colors: dict[str, tuple[float, ...]]) -> None:
    import mujoco

    if not mesh_dir.is_dir():
        raise FileNotFoundError(f"mesh_dir {mesh_dir} is not a directory of Unitree G1 STL meshes")
    attachments = [(link, link, (0.0, 0.0, 0.0)) for link in MESH_LINKS]
    attachments += [("torso_link", extra, TORSO_EXTRA_OFFSET_M) for extra in TORSO_EXTRA_MESHES]
    for body_name, mesh_name, offset in attachments:
        file = _find_mesh(mesh_dir, mesh_name)
        body = spec.body(body_name)
        if file is None or body is None:
            continue
        spec.add_mesh(name=f"unitree_{mesh_name}", file=str(file))
        if mesh_name == body_name:
            for geom in body.geoms:
                geom.group = HIDDEN_GEOM_GROUP
        rgba = colors.get(body_name, (0.7, 0.7, 0.7, 1.0))
        body.add_geom(
            type=mujoco.mjtGeom.mjGEOM_MESH,
            meshname=f"unitree_{mesh_name}",
            pos=list(offset),
            contype=0,
            conaffinity=0,
            group=MESH_GEOM_GROUP,
            density=0.0,
            rgba=list(rgba),
        )
