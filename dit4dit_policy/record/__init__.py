"""Episode recorder: camera frames, measured state and commanded actions at 30 Hz into LeRobot datasets.

Torch-free.
"""
