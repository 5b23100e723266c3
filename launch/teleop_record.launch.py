"""Teleoperation and recording: camera, controller, VR teleop server and the 30 Hz recorder.

    ros2 launch dit4dit_policy teleop_record.launch.py dataset:=/data/stack_cups task:="stack the cups" \
        network_interface:=enp3s0 teleop_host:=192.168.1.20

Open the URL the teleop node prints (https://<teleop_host>:8012/?token=…) in the headset
(docs/teleop.md), send `start`, and control recording with `record` / `save` / `discard` on
/dit4dit/command or the recorder's keyboard.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "dit4dit_policy"


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    arguments = [
        DeclareLaunchArgument("dataset", description="LeRobot dataset directory (created or appended to)"),
        DeclareLaunchArgument("task", description="instruction stored with every episode of this run"),
        DeclareLaunchArgument("network_interface", default_value="enp3s0", description="robot NIC"),
        DeclareLaunchArgument("camera_device", default_value="/dev/video0", description="V4L2 head camera"),
        DeclareLaunchArgument(
            "teleop_host",
            default_value="127.0.0.1",
            description="address the headset connects to (never 0.0.0.0)",
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "teleop_record.yaml"]),
            description="ROS parameter file of the four nodes",
        ),
    ]
    params = LaunchConfiguration("params_file")
    return LaunchDescription(
        [
            *arguments,
            SetEnvironmentVariable("RMW_IMPLEMENTATION", "rmw_cyclonedds_cpp"),
            Node(
                package=PACKAGE,
                executable="camera_node",
                name="camera_node",
                output="screen",
                parameters=[params, {"device": LaunchConfiguration("camera_device")}],
            ),
            Node(
                package=PACKAGE,
                executable="controller_node",
                name="controller_node",
                output="screen",
                parameters=[params, {"controller.link.interface": LaunchConfiguration("network_interface")}],
            ),
            Node(
                package=PACKAGE,
                executable="teleop_node",
                name="teleop_node",
                output="screen",
                parameters=[params, {"server.host": LaunchConfiguration("teleop_host")}],
            ),
            Node(
                package=PACKAGE,
                executable="recorder_node",
                name="recorder_node",
                output="screen",
                emulate_tty=True,
                parameters=[
                    params,
                    {"dataset": LaunchConfiguration("dataset"), "task": LaunchConfiguration("task")},
                ],
            ),
        ]
    )
