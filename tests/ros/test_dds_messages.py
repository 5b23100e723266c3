"""Every message kind crosses a process boundary on the DDS backend with its content intact."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dit4dit_policy import schema
from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.dds_backend import conversions as conv
from dit4dit_policy.ros.dds_backend import messages as m
from dit4dit_policy.ros.dds_backend.graph import DdsGraph, dds_topic_name

ECHO = Path(__file__).with_name("dds_echo.py")


def _payloads():
    rgb = (np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
    chunk = np.linspace(-1, 1, 4 * 16).reshape(4, 16)
    return {
        itf.MsgKind.IMAGE: ("/t/image", itf.ImageFrame(rgb=rgb, stamp_ns=1_700_000_000_123_456_789)),
        itf.MsgKind.CAMERA_INFO: (
            "/t/info",
            itf.CameraInfoData(64, 48, tuple(range(9)), (0.0,) * 5, (1.0,) * 9, (2.0,) * 12, stamp_ns=5),
        ),
        itf.MsgKind.JOINT_STATE: (
            "/t/js",
            itf.JointStateData(schema.JOINT_NAMES, np.arange(16.0), np.zeros(16), np.zeros(16), stamp_ns=42),
        ),
        itf.MsgKind.JOINT_TRAJECTORY: (
            "/t/traj",
            itf.TrajectoryData(schema.JOINT_NAMES, chunk, np.arange(4) * 33_333_333, stamp_ns=10**18),
        ),
        itf.MsgKind.STRING: ("/t/str", "stack the cups"),
        itf.MsgKind.DIAGNOSTICS: (
            "/t/diag",
            itf.DiagnosticArrayData(
                (
                    itf.DiagnosticStatusData(
                        "controller: loop", itf.DiagnosticLevel.WARN, "late", {"p99_ms": "0.4"}
                    ),
                ),
                stamp_ns=7,
            ),
        ),
    }


def test_each_message_kind_across_processes(dds_domain):
    proc = subprocess.Popen(
        [sys.executable, str(ECHO), str(dds_domain), "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert json.loads(proc.stdout.readline()) == {"ready": True}
        graph = DdsGraph("sender", dds_domain, interface="lo")
        pubs = {k: (graph.create_publisher(t, k, itf.RELIABLE_QOS), p) for k, (t, p) in _payloads().items()}
        deadline = time.monotonic() + 15
        # Publish until the echo process has seen every kind (discovery takes a moment).
        while proc.poll() is None and time.monotonic() < deadline:
            for pub, payload in pubs.values():
                pub.publish(payload)
            time.sleep(0.2)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    got = {}
    for line in out.splitlines():
        got.update(json.loads(line))
    payloads = _payloads()
    assert set(got) >= {k.name for k in payloads}, (got.keys(), err)
    rgb = payloads[itf.MsgKind.IMAGE][1].rgb
    assert got["IMAGE"] == {
        "shape": [48, 64, 3],
        "sum": int(rgb.sum(dtype=np.int64)),
        "stamp": 1_700_000_000_123_456_789,
        "frame_id": "ego_camera_optical_frame",
    }
    assert got["CAMERA_INFO"]["k"] == list(range(9)) and got["CAMERA_INFO"]["stamp"] == 5
    assert got["JOINT_STATE"]["names"] == list(schema.JOINT_NAMES)
    assert got["JOINT_STATE"]["pos"] == list(range(16))
    assert got["JOINT_TRAJECTORY"]["t"] == [0, 33_333_333, 66_666_666, 99_999_999]
    np.testing.assert_array_equal(got["JOINT_TRAJECTORY"]["pos"], np.linspace(-1, 1, 64).reshape(4, 16))
    assert got["JOINT_TRAJECTORY"]["stamp"] == 10**18
    assert got["STRING"] == "stack the cups"
    assert got["DIAGNOSTICS"]["status"] == [["controller: loop", 1, "late", {"p99_ms": "0.4"}]]


def test_ros2_names_and_types():
    assert dds_topic_name("/camera/ego/image_raw") == "rt/camera/ego/image_raw"
    with pytest.raises(ValueError, match="absolute"):
        dds_topic_name("camera")
    assert m.Image_.__idl_typename__ == "sensor_msgs::msg::dds_::Image_"
    assert m.JointTrajectory_.__idl_typename__ == "trajectory_msgs::msg::dds_::JointTrajectory_"
    assert m.DiagnosticArray_.__idl_typename__ == "diagnostic_msgs::msg::dds_::DiagnosticArray_"


def test_image_one_copy_serialisation_matches_elementwise_cdr():
    rgb = np.random.default_rng(0).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    fast = conv.image_to_msg(itf.ImageFrame(rgb=rgb, stamp_ns=3))
    m.prepare_types()
    wire = fast.serialize()
    # Reference: the same message with a plain list, serialised by cyclonedds' generic sequence code.
    from cyclonedds.idl import types as t
    from cyclonedds.idl._machinery import PrimitiveMachine, SequenceMachine

    ref_machine = SequenceMachine(PrimitiveMachine(t.uint8))
    from cyclonedds.idl._support import Buffer

    buf = Buffer(bytearray(len(wire) + 16), align_offset=4)
    ref_machine.serialize(buf, list(rgb.tobytes()))
    tail = buf.asbytes()
    assert wire.endswith(tail)
    back = conv.image_from_msg(m.Image_.deserialize(wire))
    np.testing.assert_array_equal(back.rgb, rgb)


def test_malformed_messages_rejected():
    bad = m.Image_(height=4, width=4, encoding="mono8", step=4, data=bytes(16))
    with pytest.raises(ValueError, match="rgb8 or bgr8"):
        conv.image_from_msg(bad)
    short = m.Image_(height=4, width=4, encoding="rgb8", step=12, data=bytes(10))
    with pytest.raises(ValueError, match="bytes"):
        conv.image_from_msg(short)
    traj = m.JointTrajectory_(joint_names=["a", "b"], points=[m.JointTrajectoryPoint_(positions=[1.0])])
    with pytest.raises(ValueError, match="point 0"):
        conv.trajectory_from_msg(traj)
    with pytest.raises(TypeError):
        DdsGraph("x", 5, interface="lo").create_publisher(
            "/t/s", itf.MsgKind.STRING, itf.RELIABLE_QOS
        ).publish(3)
