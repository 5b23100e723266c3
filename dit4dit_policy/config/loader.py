"""Typed configuration: YAML files and ``--a.b=value`` overrides into frozen-or-plain dataclasses.

One mechanism for every config in the package (training, nodes, simulation, evaluation):

* the schema is a dataclass (nested dataclasses for sections); defaults live only there;
* an unknown key, a value of the wrong type, or a missing required value raises
  :class:`~dit4dit_policy.errors.ConfigError` naming the key, the file and the expected form;
* range checks belong in each dataclass's ``__post_init__`` (their ``ValueError`` is re-raised as a
  ``ConfigError`` with the key and file added);
* ROS 2 parameter files (``<node>: ros__parameters: {...}``) load through the same schema.

Supported field types: ``bool``, ``int``, ``float``, ``str``, ``pathlib.Path``, ``X | None``,
``Literal[...]``, ``enum.Enum`` subclasses, ``list[X]``, ``tuple[X, ...]``, fixed ``tuple[X, Y]``,
``dict[str, X]`` and nested dataclasses.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from dit4dit_policy.errors import ConfigError

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def _where(source: str, key: str) -> str:
    return f"{source} at '{key}'" if key else source


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "null"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    if dataclasses.is_dataclass(tp):
        return f"a mapping ({tp.__name__})"
    if origin is not None:
        args = ", ".join("..." if a is Ellipsis else _type_name(a) for a in typing.get_args(tp))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(tp, "__name__", str(tp))


def _fail(source: str, key: str, tp: Any, value: Any) -> typing.NoReturn:
    raise ConfigError(
        f"config error in {_where(source, key)}: expected {_type_name(tp)}, "
        f"got {value!r} ({type(value).__name__})"
    )


def _convert(tp: Any, value: Any, source: str, key: str) -> Any:
    """Check ``value`` against annotation ``tp`` and convert it (str → Path, list → tuple, …)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _convert(option, value, source, key)
            except ConfigError as exc:
                errors.append(exc)
        _fail(source, key, tp, value)
    if origin is typing.Literal:
        if value in args and not (isinstance(value, bool) and not any(isinstance(a, bool) for a in args)):
            return value
        _fail(source, key, tp, value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            _fail(source, key, tp, value)
        return _build(tp, value, source, key)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if isinstance(value, tp):
            return value
        for member in tp:
            if member.value == value or member.name == value:
                return member
        _fail(source, key, tp, value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        _fail(source, key, tp, value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        _fail(source, key, tp, value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads `1e-4` as a string
            try:
                return float(value)
            except ValueError:
                pass
        _fail(source, key, tp, value)
    if tp is str:
        if isinstance(value, str):
            return value
        _fail(source, key, tp, value)
    if tp is Path:
        if isinstance(value, (str, Path)) and str(value):
            return Path(value).expanduser()
        _fail(source, key, tp, value)
    if origin in (list, tuple, Sequence):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            _fail(source, key, tp, value)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(
                    f"config error in {_where(source, key)}: expected {len(args)} items ({_type_name(tp)}), "
                    f"got {len(value)}"
                )
            pairs = enumerate(zip(args, value, strict=True))
            return tuple(_convert(a, v, source, f"{key}[{i}]") for i, (a, v) in pairs)
        item_tp = args[0] if args else Any
        items = [_convert(item_tp, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            _fail(source, key, tp, value)
        key_tp, val_tp = args if args else (Any, Any)
        return {
            _convert(key_tp, k, source, f"{key}.{k}"): _convert(val_tp, v, source, f"{key}.{k}")
            for k, v in value.items()
        }
    raise TypeError(f"config schema uses an unsupported annotation {tp!r} at {key!r}")


def _build(cls: type[T], data: Mapping[str, Any], source: str, prefix: str) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    for name in data:
        if name not in fields:
            close = difflib.get_close_matches(str(name), list(fields), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            full = f"{prefix}.{name}" if prefix else str(name)
            raise ConfigError(
                f"config error in {source}: unknown key '{full}'{hint} (allowed under "
                f"'{prefix or '<root>'}': {', '.join(sorted(fields))})"
            )
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        full = f"{prefix}.{name}" if prefix else name
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], source, full)
        elif field.default is _MISSING and field.default_factory is _MISSING:
            raise ConfigError(
                f"config error in {source}: missing required key '{full}' "
                f"(expected {_type_name(hints[name])})"
            )
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"config error in {_where(source, prefix)}: {exc}") from exc


def from_dict(cls: type[T], data: Mapping[str, Any] | None, *, source: str = "<dict>") -> T:
    """Build dataclass ``cls`` from a nested mapping, checking keys and types.

    Args:
        cls: the schema dataclass.
        data: nested mapping (``None`` means empty: all defaults).
        source: where the data came from, used in error messages (a file path or ``<cli>``).

    Returns:
        An instance of ``cls``.

    Raises:
        ConfigError: unknown key, wrong type, missing required value or a failed ``__post_init__`` check.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"config error in {source}: the top level must be a mapping, got {type(data).__name__}"
        )
    return _build(cls, data, source, "")


def to_dict(obj: Any) -> Any:
    """Plain-YAML form of a config (dataclasses → dicts, tuples → lists, Path → str, Enum → value)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``--a.b=value`` (or ``a.b=value``) into the dotted key and its YAML-parsed value.

    Raises:
        ConfigError: the text has no ``=`` or an empty key.
    """
    body = text[2:] if text.startswith("--") else text
    key, sep, raw = body.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} must look like --section.key=value")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def apply_overrides(data: Mapping[str, Any] | None, overrides: Iterable[str]) -> dict[str, Any]:
    """Return a deep copy of ``data`` with each ``--a.b=value`` override set.

    Raises:
        ConfigError: a malformed override, or one that descends into a non-mapping value.
    """
    result = _deep_copy(dict(data or {}))
    for text in overrides:
        key, value = parse_override(text)
        node = result
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: '{'.'.join(parts[: i + 1])}' is not a section")
            node = child
        node[parts[-1]] = value
    return result


def _deep_copy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path``.

    Raises:
        ConfigError: the file does not exist, is not valid YAML, or its top level is not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def load(cls: type[T], path: str | Path | None = None, overrides: Iterable[str] = ()) -> T:
    """Load ``cls`` from an optional YAML file plus ``--a.b=value`` overrides (applied last).

    Raises:
        ConfigError: see :func:`from_dict`, :func:`read_yaml`, :func:`parse_override`.
    """
    overrides = list(overrides)
    data = read_yaml(path) if path is not None else {}
    source = str(path) if path is not None else "<defaults>"
    if overrides:
        source += " + command-line overrides"
    return from_dict(cls, apply_overrides(data, overrides), source=source)


def save(obj: Any, path: str | Path) -> None:
    """Write the resolved config ``obj`` as YAML (atomically: temp file, then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(to_dict(obj), sort_keys=False), encoding="utf-8")
    tmp.replace(path)


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` → ``{"a": {"b": 1}}`` (ROS parameters arrive with dotted names).

    Raises:
        ConfigError: a name is used both as a value and as a section.
    """
    result: dict[str, Any] = {}
    for name, value in flat.items():
        node = result
        parts = name.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"parameter '{name}': '{part}' is both a value and a section")
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise ConfigError(f"parameter '{name}' is both a value and a section")
        node[parts[-1]] = value
    return result


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Inverse of :func:`unflatten`: nested mapping → dotted names (for declaring ROS parameters)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def read_ros_params(path: str | Path, node_name: str) -> dict[str, Any]:
    """The ``ros__parameters`` of ``node_name`` in a ROS 2 parameter file, merged over ``/**``.

    Accepts the node key with or without a leading ``/`` and with a namespace prefix
    (``/ns/node``), exactly like ``ros2 run --ros-args --params-file``.

    Raises:
        ConfigError: the file has no section for the node, or a section lacks ``ros__parameters``.
    """
    data = read_yaml(path)
    merged: dict[str, Any] = {}
    found = False
    for key in ("/**", "**"):
        if key in data:
            merged.update(_section_params(data[key], path, key))
            found = True
    for key, section in data.items():
        if key in ("/**", "**"):
            continue
        if str(key).strip("/").split("/")[-1] == node_name:
            merged.update(_section_params(section, path, key))
            found = True
    if not found:
        raise ConfigError(
            f"ROS parameter file {path} has no section for node '{node_name}' "
            f"(expected '{node_name}: {{ros__parameters: {{...}}}}'; found {sorted(map(str, data))})"
        )
    return merged


def _section_params(section: Any, path: str | Path, key: str) -> dict[str, Any]:
    if not isinstance(section, dict) or "ros__parameters" not in section:
        raise ConfigError(f"ROS parameter file {path}: section '{key}' must contain 'ros__parameters'")
    params = section["ros__parameters"] or {}
    if not isinstance(params, dict):
        raise ConfigError(f"ROS parameter file {path}: '{key}.ros__parameters' must be a mapping")
    return params


def load_ros_params(cls: type[T], path: str | Path, node_name: str, overrides: Iterable[str] = ()) -> T:
    """Load ``cls`` from the node's section of a ROS 2 parameter file (plus overrides).

    Raises:
        ConfigError: as :func:`read_ros_params` and :func:`from_dict`.
    """
    data = read_ros_params(path, node_name)
    overrides = list(overrides)
    source = f"{path} [{node_name}.ros__parameters]" + (" + command-line overrides" if overrides else "")
    return from_dict(cls, apply_overrides(data, overrides), source=source)
