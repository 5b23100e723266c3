#!/usr/bin/env bash
# Source ROS 2 and the workspace, then run the given command.
set -e
source /opt/ros/humble/setup.bash
if [ -f /opt/dit4dit/ros2_ws/install/setup.bash ]; then
  source /opt/dit4dit/ros2_ws/install/setup.bash
fi
exec "$@"
