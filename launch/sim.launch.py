"""Simulation: the same camera, policy and controller nodes against the MuJoCo G1 bridge
(domain 1, loopback only).

    ros2 launch dit4dit_policy sim.launch.py checkpoint:=/path/to/ckpt task_name:=close_drawer

Reset the scene with `ros2 topic pub --once /dit4dit/sim/command std_msgs/msg/String
"{data: 'reset close_drawer 3'}"`, then `start` on /dit4dit/command. Without ROS, `dit4dit sim`
runs the same graph and the rollouts.
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
        DeclareLaunchArgument("checkpoint", description="DiT4DiT checkpoint directory"),
        DeclareLaunchArgument(
            "task_name", default_value="close_drawer", description="simulator task at start"
        ),
        DeclareLaunchArgument("seed", default_value="0", description="seed of the first episode"),
        DeclareLaunchArgument("device", default_value="cpu", description="torch device of the policy"),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "sim.yaml"]),
            description="ROS parameter file of the four nodes",
        ),
    ]
    params = LaunchConfiguration("params_file")

    def node(executable, overrides=None):
        return Node(
            package=PACKAGE,
            executable=executable,
            name=executable,
            output="screen",
            parameters=[params, overrides or {}],
        )

    return LaunchDescription(
        [
            *arguments,
            SetEnvironmentVariable("ROS_DOMAIN_ID", "1"),
            SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"),
            SetEnvironmentVariable("RMW_IMPLEMENTATION", "rmw_cyclonedds_cpp"),
            SetEnvironmentVariable("MUJOCO_GL", "egl"),
            node(
                "sim_bridge_node",
                {"task": LaunchConfiguration("task_name"), "seed": LaunchConfiguration("seed")},
            ),
            node("controller_node"),
            node("camera_node"),
            node(
                "policy_node",
                {"checkpoint": LaunchConfiguration("checkpoint"), "device": LaunchConfiguration("device")},
            ),
        ]
    )
