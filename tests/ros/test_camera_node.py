"""The camera node as a real process: video-file and simulator sources over loopback DDS."""

import itertools
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.dds_backend.graph import DdsGraph


def _write_video(path, frames=20, size=(48, 64)):
    container = av.open(str(path), "w")
    stream = container.add_stream("mpeg4", rate=30)
    stream.height, stream.width = size
    stream.pix_fmt = "yuv420p"
    for i in range(frames):
        rgb = np.full((*size, 3), (i * 10) % 255, np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def _start_node(domain, *params):
    cmd = [
        sys.executable,
        "-m",
        "dit4dit_policy.ros.camera_node",
        "--backend",
        "dds",
        "--domain-id",
        str(domain),
    ]
    cmd += ["--interface", "lo"]
    for p in params:
        cmd += ["--param", p]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _collect(graph, predicate, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not predicate():
        graph.spin_once(0.05)


def test_video_source_publishes_image_info_and_diagnostics(tmp_path, dds_domain):
    video = tmp_path / "clip.mp4"
    _write_video(video)
    proc = _start_node(
        dds_domain, "source=video", f"video_path={video}", "fps=30.0", "diagnostics_period_s=0.3"
    )
    try:
        graph = DdsGraph("probe", dds_domain, interface="lo")
        images, infos, diags = [], [], []
        graph.create_subscription(itf.TOPIC_IMAGE, itf.MsgKind.IMAGE, itf.SENSOR_QOS, images.append)
        graph.create_subscription(
            itf.TOPIC_CAMERA_INFO, itf.MsgKind.CAMERA_INFO, itf.SENSOR_QOS, infos.append
        )
        graph.create_subscription(
            itf.TOPIC_DIAGNOSTICS, itf.MsgKind.DIAGNOSTICS, itf.RELIABLE_QOS, diags.append
        )
        _collect(
            graph, lambda: len(images) >= 15 and diags and diags[-1].status[0].values["frames"] != "0", 20
        )
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert proc.returncode == 0, out
    assert len(images) >= 15, out
    assert images[0].rgb.shape == (48, 64, 3)
    stamps = [im.stamp_ns for im in images]
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert abs(time.time_ns() - stamps[-1]) < 30e9
    # CameraInfo: same stamps as images, intrinsics scaled from 640x480 to the video's 64x48.
    info = infos[-1]
    assert (info.width, info.height) == (64, 48)
    assert info.k[0] == pytest.approx(462.0 * 64 / 640) and info.k[2] == pytest.approx(32.0)
    assert {i.stamp_ns for i in infos} <= set(stamps)
    status = diags[-1].status[0]
    assert status.name == "camera_node: ego camera" and float(status.values["rate_hz"]) > 5


def test_sim_source_republishes_with_render_stamp(dds_domain):
    proc = _start_node(dds_domain, "source=sim", "diagnostics_period_s=0.5")
    try:
        graph = DdsGraph("probe", dds_domain, interface="lo")
        sim_pub = graph.create_publisher("/sim/ego/image_raw", itf.MsgKind.IMAGE, itf.SENSOR_QOS)
        images = []
        graph.create_subscription(itf.TOPIC_IMAGE, itf.MsgKind.IMAGE, itf.SENSOR_QOS, images.append)
        sent = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(images) < 5:
            stamp = time.time_ns()
            rgb = np.full((24, 32, 3), len(sent) % 200, np.uint8)
            sim_pub.publish(itf.ImageFrame(rgb=rgb, stamp_ns=stamp))
            sent.append(stamp)
            graph.spin_once(0.05)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert proc.returncode == 0, out
    assert len(images) >= 5, out
    assert {im.stamp_ns for im in images} <= set(sent)


def test_bad_parameters_exit_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dit4dit_policy.ros.camera_node", "--backend", "dds", "--param", "fps=-1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "fps" in result.stderr
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dit4dit_policy.ros.camera_node",
            "--backend",
            "dds",
            "--param",
            "sourcee=sim",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "did you mean 'source'" in result.stderr
