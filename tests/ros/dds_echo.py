"""Helper process for tests: subscribe to every message kind on a domain and print what arrives as JSON lines.

Usage: python tests/ros/dds_echo.py DOMAIN_ID SECONDS
"""

import json
import sys

import numpy as np

from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.dds_backend.graph import DdsGraph


def main() -> None:
    domain, seconds = int(sys.argv[1]), float(sys.argv[2])
    graph = DdsGraph("echo", domain, interface="lo")
    got: dict[str, object] = {}

    def record(kind: itf.MsgKind, payload: object) -> None:
        if isinstance(payload, itf.ImageFrame):
            summary = {
                "shape": list(payload.rgb.shape),
                "sum": int(payload.rgb.sum(dtype=np.int64)),
                "stamp": payload.stamp_ns,
                "frame_id": payload.frame_id,
            }
        elif isinstance(payload, itf.CameraInfoData):
            summary = {"w": payload.width, "k": list(payload.k), "stamp": payload.stamp_ns}
        elif isinstance(payload, itf.JointStateData):
            summary = {
                "names": list(payload.names),
                "pos": payload.position.tolist(),
                "stamp": payload.stamp_ns,
            }
        elif isinstance(payload, itf.TrajectoryData):
            summary = {
                "names": list(payload.joint_names),
                "pos": payload.positions.tolist(),
                "t": payload.time_from_start_ns.tolist(),
                "stamp": payload.stamp_ns,
            }
        elif isinstance(payload, itf.DiagnosticArrayData):
            summary = {"status": [[s.name, int(s.level), s.message, dict(s.values)] for s in payload.status]}
        else:
            summary = payload
        got[kind.name] = summary
        print(json.dumps({kind.name: summary}), flush=True)

    topics = {
        itf.MsgKind.IMAGE: "/t/image",
        itf.MsgKind.CAMERA_INFO: "/t/info",
        itf.MsgKind.JOINT_STATE: "/t/js",
        itf.MsgKind.JOINT_TRAJECTORY: "/t/traj",
        itf.MsgKind.STRING: "/t/str",
        itf.MsgKind.DIAGNOSTICS: "/t/diag",
    }
    for kind, topic in topics.items():
        graph.create_subscription(topic, kind, itf.RELIABLE_QOS, lambda p, k=kind: record(k, p))
    print(json.dumps({"ready": True}), flush=True)
    graph.spin(until=lambda: len(got) == len(topics), timeout_s=seconds)


if __name__ == "__main__":
    main()
