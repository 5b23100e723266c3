"""dit4dit_policy: deploy, train and evaluate the DiT4DiT video-action policy on a Unitree G1.

Sub-packages and the direction of their imports (DESIGN.md §4; enforced by
``tests/test_import_boundaries.py``)::

    schema, errors, config   <- everything
    model                    torch only; never imports robot, sim, ros
    data, train              compose model with datasets
    robot, sim, teleop,
    record, ros              torch-free: the controller runs in a process without torch
    evaluation, cli          top of the tree

Nothing is imported or computed at import time beyond the version string.
"""

__version__ = "0.1.0"
