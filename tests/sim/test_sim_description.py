"""urdf/g1_upper_body.urdf: parses, matches schema.py and Unitree's published kinematics, mirrors."""

import struct

import mujoco
import numpy as np
import pytest

from dit4dit_policy import schema
from dit4dit_policy.sim import description as desc
from dit4dit_policy.sim.ik import ArmIK


@pytest.fixture(scope="module")
def joints():
    return desc.read_urdf_joints()


def test_urdf_compiles_in_mujoco_with_all_joints():
    spec = desc.load_robot_spec()
    model = spec.compile()
    names = {model.joint(i).name for i in range(model.njnt)}
    assert set(schema.ARM_JOINT_NAMES) <= names
    assert set(desc.WAIST_JOINT_NAMES) <= names
    assert set(desc.GRIPPER_JOINTS + desc.GRIPPER_MIMIC_JOINTS) <= names
    # The mimic finger is a joint equality; fixed links (camera, TCPs) stay bodies.
    assert model.neq == 2
    for body in (desc.CAMERA_LINK, *desc.TCP_BODIES):
        assert mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, body) >= 0


def test_urdf_is_a_well_formed_kinematic_tree(joints):
    import xml.etree.ElementTree as ET

    root = ET.parse(desc.find_urdf()).getroot()
    assert root.tag == "robot"
    links = [link.get("name") for link in root.findall("link")]
    assert len(links) == len(set(links))
    children = [j.child for j in joints.values()]
    assert len(children) == len(set(children)), "a link has two parents"
    assert {j.parent for j in joints.values()} | set(children) <= set(links)
    roots = set(links) - set(children)
    assert roots == {"pelvis"}
    for joint in joints.values():
        assert joint.type in ("revolute", "prismatic", "fixed")
        if joint.type != "fixed":
            assert np.linalg.norm(joint.axis) == pytest.approx(1.0)
            assert joint.lower < joint.upper and joint.effort > 0 and joint.velocity > 0
    for link in root.findall("link"):
        inertial = link.find("inertial")
        if inertial is not None:
            assert float(inertial.find("mass").get("value")) > 0
            inertia = inertial.find("inertia")
            ixx, iyy, izz = (float(inertia.get(k)) for k in ("ixx", "iyy", "izz"))
            # Principal moments must satisfy the triangle inequality (physically valid inertia).
            assert ixx + iyy >= izz and iyy + izz >= ixx and ixx + izz >= iyy, link.get("name")


def test_arm_limits_match_schema(joints):
    for i, name in enumerate(schema.ARM_JOINT_NAMES):
        joint, lim = joints[name], schema.JOINT_LIMITS[i]
        assert joint.type == "revolute"
        assert joint.lower == pytest.approx(lim.lower, abs=1e-5), name
        assert joint.upper == pytest.approx(lim.upper, abs=1e-5), name
        assert joint.effort == pytest.approx(lim.effort), name
        assert joint.velocity == pytest.approx(lim.velocity), name


def test_gripper_limits_map_schema_opening_to_stroke(joints):
    stroke = desc.gripper_stroke_from_urdf()
    assert stroke == pytest.approx(desc.GRIPPER_STROKE_M)
    for name, mimic in zip(desc.GRIPPER_JOINTS, desc.GRIPPER_MIMIC_JOINTS, strict=True):
        assert joints[name].type == "prismatic"
        lo, hi = schema.GRIPPER_LIMIT.lower, schema.GRIPPER_LIMIT.upper
        assert (joints[name].lower, joints[name].upper) == pytest.approx((lo * stroke, hi * stroke))
        assert joints[mimic].mimic == name


def test_compiled_ranges_equal_urdf_limits():
    model = desc.load_robot_spec().compile()
    for i, name in enumerate(schema.ARM_JOINT_NAMES):
        rng = model.joint(name).range
        assert rng == pytest.approx([schema.POSITION_LOWER[i], schema.POSITION_UPPER[i]], abs=1e-5)


def test_published_kinematics(joints):
    # Unitree G1 29-DoF description (unitree_mujoco g1_29dof.xml / xr_teleoperate URDF), g1_spec §2.1, §5.
    assert joints["left_shoulder_pitch_joint"].xyz == pytest.approx((0.0039563, 0.10022, 0.23778))
    assert joints["left_shoulder_pitch_joint"].rpy[0] == pytest.approx(0.27931)
    assert joints["left_shoulder_roll_joint"].xyz == pytest.approx((0.0, 0.038, -0.013831))
    assert joints["left_shoulder_yaw_joint"].xyz == pytest.approx((0.0, 0.00624, -0.1032))
    assert joints["left_elbow_joint"].xyz == pytest.approx((0.015783, 0.0, -0.080518))
    assert joints["left_wrist_roll_joint"].xyz == pytest.approx((0.1, 0.00188791, -0.01))
    assert joints["left_wrist_pitch_joint"].xyz == pytest.approx((0.038, 0.0, 0.0))
    assert joints["left_wrist_yaw_joint"].xyz == pytest.approx((0.046, 0.0, 0.0))
    assert joints["waist_roll_joint"].xyz == pytest.approx((-0.0039635, 0.0, 0.035))
    assert joints["waist_pitch_joint"].xyz == pytest.approx((0.0, 0.0, 0.019))
    axes = {"pitch": (0, 1, 0), "roll": (1, 0, 0), "yaw": (0, 0, 1), "elbow": (0, 1, 0)}
    for name in schema.ARM_JOINT_NAMES:
        kind = "elbow" if "elbow" in name else name.split("_")[-2]
        assert joints[name].axis == pytest.approx(axes[kind]), name
    cam = joints["d435_joint"]
    assert (cam.parent, cam.child, cam.type) == ("torso_link", desc.CAMERA_LINK, "fixed")
    assert cam.xyz == pytest.approx((0.0576, 0.0175, 0.4299), abs=1e-4)
    assert cam.rpy == pytest.approx((0.0, 0.8308, 0.0), abs=1e-4)


def _mirror(q_left):
    # Roll and yaw joints flip sign in the mirror image; pitch joints (and the elbow) do not.
    return np.asarray(q_left) * np.array([1, -1, -1, 1, -1, 1, -1])


@pytest.mark.parametrize("seed", range(5))
def test_forward_kinematics_of_the_arms_mirror(seed):
    rng = np.random.default_rng(seed)
    ik = ArmIK()
    lo, hi = schema.POSITION_LOWER[:7], schema.POSITION_UPPER[:7]
    q_left = rng.uniform(np.maximum(lo, -1.2), np.minimum(hi, 1.2))
    q_left[1] = rng.uniform(-1.2, 1.2)  # inside both shoulder-roll ranges after mirroring
    q = np.concatenate([q_left, _mirror(q_left)])
    p_left, r_left = ik.tcp_pose(q, 0)
    p_right, r_right = ik.tcp_pose(q, 1)
    flip = np.diag([1.0, -1.0, 1.0])
    # Right arm = left arm reflected in the sagittal plane (y → -y), to 1 mm (Unitree's shoulder
    # origins differ by 10 µm in y).
    assert p_right == pytest.approx(flip @ p_left, abs=1e-3)
    assert flip @ r_left @ flip == pytest.approx(r_right, abs=1e-3)


def test_zero_pose_grasp_centres_in_front_of_the_shoulders():
    ik = ArmIK()
    left, _ = ik.tcp_pose(np.zeros(14), 0)
    right, _ = ik.tcp_pose(np.zeros(14), 1)
    # Zero pose: upper arms down, forearms forward (Unitree's convention), hands ~0.34 m ahead.
    assert left[0] == pytest.approx(0.336, abs=0.005)
    assert left[1] > 0.1 and right[1] < -0.1
    assert left[2] == pytest.approx(desc.PELVIS_HEIGHT_M + 0.095, abs=0.005)


def _write_box_stl(path, half=0.02):
    corners = np.array([[x, y, z] for x in (-half, half) for y in (-half, half) for z in (-half, half)])
    faces = [
        (0, 1, 3),
        (0, 3, 2),
        (4, 6, 7),
        (4, 7, 5),
        (0, 4, 5),
        (0, 5, 1),
        (2, 3, 7),
        (2, 7, 6),
        (0, 2, 6),
        (0, 6, 4),
        (1, 5, 7),
        (1, 7, 3),
    ]
    data = bytearray(80) + struct.pack("<I", len(faces))
    for f in faces:
        data += struct.pack("<3f", 0, 0, 0)
        for idx in f:
            data += struct.pack("<3f", *corners[idx])
        data += b"\0\0"
    path.write_bytes(bytes(data))


def test_unitree_meshes_load_from_a_user_directory(tmp_path):
    _write_box_stl(tmp_path / "left_elbow_link.STL")
    _write_box_stl(tmp_path / "head_link.STL")
    model = desc.load_robot_spec(mesh_dir=tmp_path).compile()
    mesh_geoms = np.flatnonzero(model.geom_type == mujoco.mjtGeom.mjGEOM_MESH)
    assert len(mesh_geoms) == 2
    assert set(model.geom_group[mesh_geoms]) == {desc.MESH_GEOM_GROUP}
    assert all(model.geom_contype[g] == 0 and model.geom_conaffinity[g] == 0 for g in mesh_geoms)
    elbow = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "left_elbow_link")
    primitives = [g for g in np.flatnonzero(model.geom_bodyid == elbow) if g not in mesh_geoms]
    assert primitives and all(model.geom_group[g] == desc.HIDDEN_GEOM_GROUP for g in primitives)


def test_missing_mesh_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="mesh_dir"):
        desc.load_robot_spec(mesh_dir=tmp_path / "nope")


def test_find_urdf_reports_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"g1_upper_body\.urdf"):
        desc.find_urdf(tmp_path)
