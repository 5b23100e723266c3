"""ROS 2 node shells and the graph interface with two backends (rclpy and ROS-2-wire-compatible DDS).

Node code holds no maths; everything but the policy node is torch-free.
"""
