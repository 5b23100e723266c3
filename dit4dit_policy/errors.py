"""Exceptions shared across the package.

Every error names the offending field or file and the expected form, so an operator can fix the
input without reading the code (DESIGN.md §8).
"""


class Dit4ditError(Exception):
    """Base class of the package's own errors."""


class ConfigError(Dit4ditError, ValueError):
    """A configuration file or override is invalid: unknown key, wrong type or missing value."""


class SchemaMismatchError(Dit4ditError, ValueError):
    """Data does not match the 16-D contract of ``schema.py`` (shape, order, units, stamps)."""


class CheckpointError(Dit4ditError, ValueError):
    """A checkpoint directory or file is missing, corrupt, truncated or incompatible."""


class DatasetError(Dit4ditError, ValueError):
    """A dataset is malformed; the message names the episode and frame."""


class DeviceNotConnectedError(Dit4ditError, RuntimeError):
    """A hardware device (robot link, camera, gripper) was used before it was connected."""


class StaleCommandError(Dit4ditError, RuntimeError):
    """A command or observation is older than its allowed age."""


class ResultsError(Dit4ditError, ValueError):
    """An evaluation results directory is unusable: corrupt, locked, or from another checkpoint/config."""
