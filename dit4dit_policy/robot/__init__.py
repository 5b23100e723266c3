"""Torch-free robot side of the stack.

G1 joint map, unitree_hg DDS messages and CRC, arm_sdk link, safety filter, chunk scheduler,
supervisor, gripper drivers and cameras. Nothing in this package may import torch: the controller
runs in a process without it.
"""
