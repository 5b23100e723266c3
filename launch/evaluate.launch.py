"""Real-robot evaluation: the policy graph plus the operator's terminal protocol (20 rollouts per task).

    ros2 launch dit4dit_policy evaluate.launch.py checkpoint:=/path/to/ckpt \
        eval_task:="stack_cups=stack the green cup on the blue cup" rollouts:=20 out:=/data/evals/run1

The protocol (dit4dit eval real) asks the operator to reset the scene, start each rollout, stop it
and mark success / failure / partial; every finished rollout is on disk before the next starts, and
re-running the same command resumes. The report is written at the end (docs/evaluation.md).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

PACKAGE = "dit4dit_policy"


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    arguments = [
        DeclareLaunchArgument("checkpoint", description="DiT4DiT checkpoint directory"),
        DeclareLaunchArgument("eval_task", description="NAME=INSTRUCTION of the evaluated task"),
        DeclareLaunchArgument("rollouts", default_value="20", description="rollouts per task"),
        DeclareLaunchArgument("out", description="results directory (re-run to resume)"),
        DeclareLaunchArgument("network_interface", default_value="enp3s0", description="robot NIC"),
        DeclareLaunchArgument("camera_device", default_value="/dev/video0", description="V4L2 head camera"),
    ]
    graph = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch", "g1_policy.launch.py"])),
        launch_arguments={
            "checkpoint": LaunchConfiguration("checkpoint"),
            "network_interface": LaunchConfiguration("network_interface"),
            "camera_device": LaunchConfiguration("camera_device"),
        }.items(),
    )
    protocol = ExecuteProcess(
        cmd=[
            "dit4dit",
            "eval",
            "real",
            "--checkpoint",
            LaunchConfiguration("checkpoint"),
            "--task",
            LaunchConfiguration("eval_task"),
            "--rollouts",
            LaunchConfiguration("rollouts"),
            "--out",
            LaunchConfiguration("out"),
        ],
        output="screen",
        emulate_tty=True,
    )
    return LaunchDescription([*arguments, graph, protocol])
