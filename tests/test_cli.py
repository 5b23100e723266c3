import argparse
import json
import subprocess
import sys
import types

import pytest

from dit4dit_policy.cli import main as cli_main
from dit4dit_policy.errors import ConfigError


def _run(*args):
    return subprocess.run([sys.executable, "-m", "dit4dit_policy.cli", *args], capture_output=True, text=True)


def test_help_and_version():
    result = _run("--help")
    assert result.returncode == 0 and "robot" in result.stdout
    assert _run("--version").returncode == 0


def test_every_command_has_help():
    for module in cli_main.discover():
        assert module.HELP and callable(module.run) and callable(module.add_arguments)
        result = _run(*module.COMMAND, "--help")
        assert result.returncode == 0, (module.COMMAND, result.stderr)


def test_usage_errors_exit_2():
    assert _run("no-such-command").returncode == 2
    assert _run("robot", "joints", "--bogus").returncode == 2
    assert _run().returncode == 2


def test_robot_joints_json():
    result = _run("robot", "joints", "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert next(j["name"] for j in data["joints"]) == "left_shoulder_pitch_joint"
    assert data["joints"][0]["motor_index"] == 15 and data["arm_sdk_weight_index"] == 29


def _fake_command(behaviour, accepts_overrides=False):
    module = types.ModuleType("fake_cmd")
    module.COMMAND = ("fake",)
    module.HELP = "fake"
    module.ACCEPTS_OVERRIDES = accepts_overrides
    module.add_arguments = lambda parser: parser.add_argument("--x", type=int, default=0)
    module.run = behaviour
    return module


def test_user_error_exit_1(monkeypatch, capsys):
    def fail(args: argparse.Namespace) -> int:
        raise ConfigError("config error in f.yaml: unknown key 'x'")

    monkeypatch.setattr(cli_main, "discover", lambda: [_fake_command(fail)])
    assert cli_main.main(["fake"]) == 1
    assert "unknown key 'x'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("module", "group"), [("cyclonedds", "robot"), ("mujoco.viewer", "sim"), ("torch", "model")]
)
def test_missing_optional_dependency_is_a_user_error(monkeypatch, capsys, module, group):
    def need(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)

    monkeypatch.setattr(cli_main, "discover", lambda: [_fake_command(need)])
    assert cli_main.main(["fake"]) == 1
    err = capsys.readouterr().err
    assert f"'{module.split('.')[0]}'" in err and f"dit4dit_policy[{group}]" in err
    assert "`dit4dit fake`" in err


def test_missing_internal_module_still_raises(monkeypatch):
    def broken(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'dit4dit_policy.nope'", name="dit4dit_policy.nope")

    monkeypatch.setattr(cli_main, "discover", lambda: [_fake_command(broken)])
    with pytest.raises(ModuleNotFoundError):
        cli_main.main(["fake"])


def test_overrides_passed_through(monkeypatch):
    seen = {}

    def record(args):
        seen["overrides"] = args.overrides
        return 0

    monkeypatch.setattr(cli_main, "discover", lambda: [_fake_command(record, accepts_overrides=True)])
    assert cli_main.main(["fake", "--x=1", "--train.lr=3"]) == 0
    assert seen["overrides"] == ["--train.lr=3"]
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["fake", "positional"])
    assert exc.value.code == 2
