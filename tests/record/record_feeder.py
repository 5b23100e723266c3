"""Test helper process: publishes the recorder's inputs over DDS at the real rates.

* ``/camera/ego/image_raw`` at 30 Hz, rgb8, stamp = exposure time on a regular 30 Hz clock; every
  pixel of frame k holds k % 256 in channel 0 and (k // 256) % 256 in channel 1, so a recorded
  frame names its source.
* ``/g1/joint_states`` at 250 Hz: all 16 positions = stamp seconds since start (a ramp, so the
  recorded state tells the time it was sampled at).
* ``/dit4dit/action_chunk`` at 60 Hz: 3 points holding the value 0.5·sin(t) (a teleop-style chunk).

Runs until killed or ``--duration`` passes; writes one JSON line per published frame stamp to
``--stamps`` so the test knows exactly what was sent.

Usage: python record_feeder.py DOMAIN --duration S --stamps FILE [--size HxW]
"""

import argparse
import json
import math
import time

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.dds_backend.graph import DdsGraph
from dit4dit_policy.sim import description as desc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("domain", type=int)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--stamps", required=True)
    parser.add_argument("--size", default="48x64")
    parser.add_argument("--t0-ns", type=int, default=0)
    parser.add_argument("--no-chunks", action="store_true", help="publish no action chunks")
    parser.add_argument("--hold-pose", action="store_true", help="joint states hold the default arm pose")
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.split("x"))
    graph = DdsGraph("feeder", args.domain, interface="lo")
    pub_image = graph.create_publisher(itf.TOPIC_IMAGE, itf.MsgKind.IMAGE, itf.SENSOR_QOS)
    pub_state = graph.create_publisher(itf.TOPIC_JOINT_STATES, itf.MsgKind.JOINT_STATE, itf.SENSOR_QOS)
    pub_chunk = graph.create_publisher(itf.TOPIC_ACTION_CHUNK, itf.MsgKind.JOINT_TRAJECTORY, itf.RELIABLE_QOS)
    t0_ns = args.t0_ns or time.time_ns()
    hold = np.concatenate([desc.DEFAULT_ARM_POSE, [1.0, 1.0]])
    start = time.monotonic()
    next_image = next_state = next_chunk = start
    if args.no_chunks:
        next_chunk = float("inf")
    k = 0
    first_ns = 0
    offsets = np.round(np.arange(3) * schema.ACTION_DT_S * 1e9).astype(np.int64)
    with open(args.stamps, "w", encoding="utf-8") as stamps:
        while time.monotonic() - start < args.duration:
            now = time.monotonic()
            if now >= next_state:
                stamp = time.time_ns()
                q = hold if args.hold_pose else np.full(16, (stamp - t0_ns) / 1e9)
                pub_state.publish(itf.JointStateData(schema.JOINT_NAMES, q, np.zeros(0), np.zeros(0), stamp))
                next_state += 1 / 250
            if now >= next_chunk:
                stamp = time.time_ns()
                value = 0.5 * math.sin((stamp - t0_ns) / 1e9)
                positions = np.full((3, 16), value)
                pub_chunk.publish(itf.TrajectoryData(schema.JOINT_NAMES, positions, offsets, stamp))
                next_chunk += 1 / 60
            if now >= next_image:
                # A camera's capture clock is regular even when delivery is late (a loaded machine
                # delays this loop): stamp frame k at its exposure time first_ns + k/30 s.
                first_ns = first_ns or time.time_ns()
                stamp = first_ns + round(k * 1e9 / 30)
                rgb = np.zeros((height, width, 3), np.uint8)
                rgb[..., 0] = k % 256
                rgb[..., 1] = (k // 256) % 256
                pub_image.publish(itf.ImageFrame(rgb=rgb, stamp_ns=stamp))
                stamps.write(json.dumps({"k": k, "stamp": stamp}) + "\n")
                stamps.flush()
                k += 1
                next_image += 1 / 30
            time.sleep(max(0.0, min(next_image, next_state, next_chunk) - time.monotonic()))


if __name__ == "__main__":
    main()
