"""Runs inside .venv-rclpy: subscribe with plain rclpy to the camera node's topics, query its lifecycle
state, print a JSON summary and exit."""

import json
import sys
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.srv import GetState
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image


def main() -> None:
    seconds = float(sys.argv[1])
    rclpy.init()
    node = rclpy.create_node("probe")
    got = {"images": 0, "info": None, "diag": None, "state": None, "shape": None}

    def on_image(msg):
        got["images"] += 1
        got["shape"] = [msg.height, msg.width, msg.encoding, msg.step]

    node.create_subscription(Image, "/camera/ego/image_raw", on_image, qos_profile_sensor_data)
    node.create_subscription(
        CameraInfo,
        "/camera/ego/camera_info",
        lambda m: got.update(info=[m.width, m.height, m.k[0]]),
        qos_profile_sensor_data,
    )
    node.create_subscription(
        DiagnosticArray,
        "/diagnostics",
        lambda m: got.update(diag=[m.status[0].name, m.status[0].values[0].key]),
        10,
    )
    client = node.create_client(GetState, "/camera_node/get_state")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (got["images"] < 10 or got["diag"] is None or got["state"] is None):
        rclpy.spin_once(node, timeout_sec=0.05)
        if got["state"] is None and client.service_is_ready():
            future = client.call_async(GetState.Request())
            rclpy.spin_until_future_complete(node, future, timeout_sec=2.0)
            if future.result() is not None:
                got["state"] = future.result().current_state.label
    print(json.dumps(got), flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
