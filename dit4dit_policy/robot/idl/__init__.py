"""The package's own wire-identical Unitree IDL types (used when ``unitree_sdk2py`` is absent).

Import the public facades :mod:`dit4dit_policy.robot.unitree_hg` and
:mod:`dit4dit_policy.robot.unitree_go` instead; they pick ``unitree_sdk2py``'s classes when it is
installed (DESIGN.md §5) and these otherwise.
"""
