import dataclasses
import enum
from pathlib import Path
from typing import Literal

import pytest
import yaml

from dit4dit_policy import config
from dit4dit_policy.errors import ConfigError


class Mode(enum.Enum):
    REPLACE = "replace"
    BLEND = "blend"


@dataclasses.dataclass
class Optim:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.95)

    def __post_init__(self):
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


@dataclasses.dataclass
class Train:
    steps: int
    name: str = "run"
    checkpoint: Path | None = None
    mode: Mode = Mode.REPLACE
    device: Literal["cpu", "cuda"] = "cpu"
    tags: list[str] = dataclasses.field(default_factory=list)
    weights: dict[str, float] = dataclasses.field(default_factory=dict)
    optim: Optim = dataclasses.field(default_factory=Optim)
    verbose: bool = False


def _write(tmp_path, data, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_load_file_and_overrides(tmp_path):
    path = _write(tmp_path, {"steps": 10, "optim": {"lr": "3e-4"}, "mode": "blend", "tags": ["a"]})
    cfg = config.load(Train, path, ["--optim.betas=[0.8, 0.9]", "--checkpoint=/tmp/x", "--weights.a=2"])
    assert cfg.steps == 10 and cfg.optim.lr == pytest.approx(3e-4) and cfg.optim.betas == (0.8, 0.9)
    assert cfg.mode is Mode.BLEND and cfg.checkpoint == Path("/tmp/x") and cfg.weights == {"a": 2.0}
    assert cfg.tags == ["a"]


def test_round_trip(tmp_path):
    cfg = config.from_dict(Train, {"steps": 3, "checkpoint": "ck", "mode": "blend"})
    out = tmp_path / "resolved.yaml"
    config.save(cfg, out)
    assert config.load(Train, out) == cfg


def test_unknown_key_names_key_file_and_suggestion(tmp_path):
    path = _write(tmp_path, {"steps": 1, "optim": {"lrr": 1.0}})
    with pytest.raises(ConfigError) as err:
        config.load(Train, path)
    msg = str(err.value)
    assert "optim.lrr" in msg and str(path) in msg and "did you mean 'lr'" in msg


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"steps": "ten"}, "'steps': expected int, got 'ten'"),
        ({"steps": True}, "'steps': expected int"),
        ({"steps": 1, "verbose": "yes"}, "'verbose': expected bool"),
        ({"steps": 1, "device": "tpu"}, "one of 'cpu', 'cuda'"),
        ({"steps": 1, "mode": "mix"}, "one of 'replace', 'blend'"),
        ({"steps": 1, "optim": {"betas": [0.9]}}, "expected 2 items"),
        ({"steps": 1, "optim": {"lr": "fast"}}, "'optim.lr': expected float"),
        ({"steps": 1, "optim": 3}, "'optim': expected a mapping"),
        ({"steps": 1, "tags": "a"}, "'tags': expected list"),
    ],
)
def test_wrong_types(tmp_path, data, fragment):
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError, match="config error") as err:
        config.load(Train, path)
    assert fragment in str(err.value)
    assert str(path) in str(err.value)


def test_missing_required_and_post_init(tmp_path):
    with pytest.raises(ConfigError, match=r"missing required key 'steps' .*expected int"):
        config.load(Train, _write(tmp_path, {"name": "x"}))
    with pytest.raises(ConfigError, match=r"at 'optim': lr must be > 0"):
        config.load(Train, _write(tmp_path, {"steps": 1, "optim": {"lr": -1}}))


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(Train, tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(Train, _write(tmp_path, "steps: [1,"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        config.load(Train, _write(tmp_path, "- 1\n- 2\n"))


@pytest.mark.parametrize("bad", ["--steps", "--=3", "--a..b=1"])
def test_bad_override(bad):
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        config.load(Train, None, [bad])


def test_override_into_value_is_error():
    with pytest.raises(ConfigError, match="not a section"):
        config.apply_overrides({"steps": 1}, ["--steps.x=1"])


def test_ros_params(tmp_path):
    path = _write(
        tmp_path,
        {
            "/**": {"ros__parameters": {"name": "shared"}},
            "controller_node": {"ros__parameters": {"steps": 5, "optim": {"lr": 0.5}}},
            "other": {"ros__parameters": {"steps": 7}},
        },
    )
    cfg = config.load_ros_params(Train, path, "controller_node", ["--verbose=true"])
    assert (cfg.steps, cfg.name, cfg.optim.lr, cfg.verbose) == (5, "shared", 0.5, True)
    # "/**" applies to every node (ROS semantics): policy_node gets the shared values only.
    with pytest.raises(ConfigError, match="missing required key 'steps'"):
        config.load_ros_params(Train, path, "policy_node")
    only_other = _write(tmp_path, {"other": {"ros__parameters": {"steps": 7}}}, "other.yaml")
    with pytest.raises(ConfigError, match="no section for node 'policy_node'"):
        config.load_ros_params(Train, only_other, "policy_node")
    bad = _write(tmp_path, {"controller_node": {"params": {}}}, "bad.yaml")
    with pytest.raises(ConfigError, match="ros__parameters"):
        config.load_ros_params(Train, bad, "controller_node")
    unknown = _write(
        tmp_path, {"/ns/controller_node": {"ros__parameters": {"steps": 1, "rate": 3}}}, "u.yaml"
    )
    with pytest.raises(ConfigError, match=r"controller_node\.ros__parameters\]: unknown key 'rate'"):
        config.load_ros_params(Train, unknown, "controller_node")


def test_flatten_unflatten():
    nested = {"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x"}
    flat = config.flatten(nested)
    assert flat == {"a.b": 1, "a.c.d": [1, 2], "e": "x"}
    assert config.unflatten(flat) == nested
    with pytest.raises(ConfigError):
        config.unflatten({"a": 1, "a.b": 2})
