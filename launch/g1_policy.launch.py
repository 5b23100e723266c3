"""Real robot: camera, DiT4DiT policy and G1 controller nodes (lifecycle nodes that configure and
activate themselves; Ctrl-C deactivates the controller, which ramps the arms out).

    ros2 launch dit4dit_policy g1_policy.launch.py checkpoint:=/path/to/ckpt task:="stack the cups" \
        network_interface:=enp3s0 camera_device:=/dev/video0

Then send `start` (arms ramp in under the safety layer, the policy runs) and `stop`:

    ros2 topic pub --once /dit4dit/command std_msgs/msg/String "{data: start}"

With `operator_stop_holds:=true` (evaluate.launch.py) a `stop` holds the arms until a second `stop`
(or `reset`) ramps them out.
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
        DeclareLaunchArgument("checkpoint", description="DiT4DiT checkpoint directory (required)"),
        DeclareLaunchArgument(
            "task", default_value="", description="instruction (or publish it on /dit4dit/task)"
        ),
        DeclareLaunchArgument(
            "network_interface",
            default_value="enp3s0",
            description="NIC on the robot network 192.168.123.0/24",
        ),
        DeclareLaunchArgument(
            "domain_id", default_value="0", description="DDS domain of the G1 (0 on the robot)"
        ),
        DeclareLaunchArgument(
            "camera_device", default_value="/dev/video0", description="V4L2 device of the head camera"
        ),
        DeclareLaunchArgument("device", default_value="cuda", description="torch device of the policy"),
        DeclareLaunchArgument(
            "operator_stop_holds",
            default_value="false",
            description="true: an operator `stop` holds the arms (last command, grippers as they are) "
            "until a second `stop` or `reset` ramps them out, however long that takes; a state fault "
            "still ramps out after hold_timeout_s (evaluate.launch.py sets true so the scene is judged "
            "with the object still held). false: `stop` holds for stop_hold_s, then ramps out "
            "(controller.supervisor.operator_stop_holds)",
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "g1_robot.yaml"]),
            description="ROS parameter file of the three nodes",
        ),
    ]
    params = LaunchConfiguration("params_file")
    return LaunchDescription(
        [
            *arguments,
            # Unitree's side speaks CycloneDDS 0.10.x; use the same RMW for the ROS topics.
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
                executable="policy_node",
                name="policy_node",
                output="screen",
                parameters=[
                    params,
                    {
                        "checkpoint": LaunchConfiguration("checkpoint"),
                        "task": LaunchConfiguration("task"),
                        "device": LaunchConfiguration("device"),
                    },
                ],
            ),
            Node(
                package=PACKAGE,
                executable="controller_node",
                name="controller_node",
                output="screen",
                parameters=[
                    params,
                    {
                        "controller.link.interface": LaunchConfiguration("network_interface"),
                        "controller.link.domain_id": LaunchConfiguration("domain_id"),
                        "controller.supervisor.operator_stop_holds": LaunchConfiguration(
                            "operator_stop_holds"
                        ),
                    },
                ],
            ),
        ]
    )
