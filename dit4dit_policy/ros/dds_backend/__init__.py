"""CycloneDDS backend of the graph interface: ROS-2-wire-compatible topics without ROS installed."""
