"""Real-robot evaluation: the robot's node graph (camera, policy, controller) for the operator console.

    ros2 launch dit4dit_policy evaluate.launch.py checkpoint:=/path/to/ckpt

then, in a second terminal with the same ROS_DOMAIN_ID, the operator console (e-stop key, start
key, success marks; docs/evaluation.md):

    dit4dit eval real --checkpoint /path/to/ckpt \
        --task "stack_cups=stack the green cup on the blue cup" --rollouts 20 --out /data/evals/run1

`ros2 launch` gives the processes it starts no keyboard (their stdin is not a terminal), so the
console cannot run under it directly; the launch prints the console command with the given
arguments. On a desktop, `console_terminal:='xterm -e'` (or `'gnome-terminal --wait --'`) opens
the console in a terminal window instead, with `eval_task:=…` and `out:=…`. The graph keeps
running when the console ends (re-running the console resumes); Ctrl-C here ramps the arms out.

The controller runs with `operator_stop_holds` (g1_policy.launch.py): the `stop` that ends a
rollout holds the arms — a grasped object stays grasped — until the console sends the second
`stop` after the verdict, which ramps them out to the rest pose.
"""

import shlex

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    IncludeLaunchDescription,
    LogInfo,
    OpaqueFunction,
)
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

PACKAGE = "dit4dit_policy"


def _console(context):
    """The operator console: in the terminal window of ``console_terminal``, or its command printed."""
    checkpoint = LaunchConfiguration("checkpoint").perform(context).strip()
    rollouts = LaunchConfiguration("rollouts").perform(context).strip()
    task = LaunchConfiguration("eval_task").perform(context).strip()
    out = LaunchConfiguration("out").perform(context).strip()
    terminal = LaunchConfiguration("console_terminal").perform(context).strip()
    cmd = ["dit4dit", "eval", "real", "--checkpoint", checkpoint, "--task", task or "NAME=INSTRUCTION"]
    cmd += ["--rollouts", rollouts, "--out", out or "RESULTS_DIR"]
    if not terminal:
        return [
            LogInfo(
                msg="node graph for the evaluation is starting; run the operator console in a second "
                "terminal (same ROS_DOMAIN_ID):\n  " + shlex.join(cmd)
            )
        ]
    if not task or not out:
        raise RuntimeError("console_terminal needs eval_task:=NAME=INSTRUCTION and out:=RESULTS_DIR")
    return [ExecuteProcess(cmd=cmd, prefix=terminal, name="operator_console", output="screen")]


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    arguments = [
        DeclareLaunchArgument("checkpoint", description="DiT4DiT checkpoint directory (required)"),
        DeclareLaunchArgument(
            "network_interface", default_value="enp3s0", description="NIC on the robot network"
        ),
        DeclareLaunchArgument(
            "camera_device", default_value="/dev/video0", description="V4L2 device of the head camera"
        ),
        DeclareLaunchArgument(
            "console_terminal",
            default_value="",
            description="terminal command that opens the operator console in a window, e.g. 'xterm -e' "
            "or 'gnome-terminal --wait --'; empty (default): start only the node graph and print the "
            "'dit4dit eval real' command to run in a second terminal",
        ),
        DeclareLaunchArgument(
            "eval_task",
            default_value="",
            description="NAME=INSTRUCTION of the evaluated task (console; required with console_terminal)",
        ),
        DeclareLaunchArgument("rollouts", default_value="20", description="rollouts per task (console)"),
        DeclareLaunchArgument(
            "out",
            default_value="",
            description="results directory, re-run to resume (console; required with console_terminal)",
        ),
    ]
    graph = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch", "g1_policy.launch.py"])),
        launch_arguments={
            "checkpoint": LaunchConfiguration("checkpoint"),
            "network_interface": LaunchConfiguration("network_interface"),
            "camera_device": LaunchConfiguration("camera_device"),
            # The rollout's `stop` holds the arms until the console's home() after the verdict
            # (its second `stop`), so a grasped object is not dropped before the scene is judged.
            "operator_stop_holds": "true",
        }.items(),
    )
    return LaunchDescription([*arguments, graph, OpaqueFunction(function=_console)])
