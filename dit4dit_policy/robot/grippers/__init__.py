"""Grippers behind one interface (1-D opening in [0, 1], 1 = open): simulated, Unitree Dex1, Dynamixel.

Use :func:`dit4dit_policy.robot.grippers.factory.make_grippers` to build the left/right pair from a
:class:`~dit4dit_policy.robot.grippers.factory.GripperConfig`.
"""
