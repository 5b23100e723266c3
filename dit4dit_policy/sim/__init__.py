"""MuJoCo G1 upper-body simulator speaking the robot's DDS protocol; tasks, scripted experts, demos.

Torch-free.
"""
