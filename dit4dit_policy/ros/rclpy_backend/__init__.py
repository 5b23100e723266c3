"""rclpy backend of the graph interface (imported only where ROS 2 is installed)."""
