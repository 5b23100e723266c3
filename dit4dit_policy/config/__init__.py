"""Typed configuration loading (YAML + ``--a.b=value`` overrides + ROS parameter files).

Each subsystem defines its own schema dataclasses next to its code; this package only holds the
one loading mechanism (:mod:`dit4dit_policy.config.loader`).
"""

from dit4dit_policy.config.loader import (
    apply_overrides,
    flatten,
    from_dict,
    load,
    load_ros_params,
    parse_override,
    read_ros_params,
    read_yaml,
    save,
    to_dict,
    unflatten,
)

__all__ = [
    "apply_overrides",
    "flatten",
    "from_dict",
    "load",
    "load_ros_params",
    "parse_override",
    "read_ros_params",
    "read_yaml",
    "save",
    "to_dict",
    "unflatten",
]
