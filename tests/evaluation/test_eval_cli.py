"""Argument and config errors of `dit4dit eval sim|real` and `dit4dit report` (exit 1, clear message)."""

import argparse
import subprocess
import sys

import pytest

from dit4dit_policy.cli import main as cli_main
from dit4dit_policy.errors import ConfigError
from dit4dit_policy.evaluation.cli_support import load_eval_config, parse_task


def _args(**kw):
    base = dict(
        config=None,
        overrides=[],
        task=None,
        rollouts=None,
        seed=None,
        order=None,
        no_record=False,
        limit=None,
    )
    base.update(kw)
    return argparse.Namespace(**base)


def test_flags_override_the_config_file(tmp_path):
    path = tmp_path / "eval.yaml"
    path.write_text(
        "protocol:\n  rollouts_per_task: 7\n  seed: 3\n  tasks:\n"
        "    - {name: stack_cups, instruction: stack the cups}\n"
    )
    config = load_eval_config(_args(config=path))
    assert config.protocol.rollouts_per_task == 7 and config.protocol.tasks[0].instruction == "stack the cups"
    config = load_eval_config(
        _args(
            config=path,
            rollouts=20,
            order="shuffled",
            no_record=True,
            overrides=["--protocol.seed=9", "--sim.execute_steps=8"],
        )
    )
    assert (config.protocol.rollouts_per_task, config.protocol.seed, config.protocol.order) == (
        20,
        9,
        "shuffled",
    )
    assert not config.recording.enabled and config.sim.execute_steps == 8
    config = load_eval_config(_args(config=path, task=["open_drawer=open the drawer", "pick_place"]))
    assert [(t.name, t.instruction) for t in config.protocol.tasks] == [
        ("open_drawer", "open the drawer"),
        ("pick_place", None),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"overrides": ["--protocol.rolouts_per_task=3"]},
            "unknown key 'protocol.rolouts_per_task'.*rollouts_per_task",
        ),
        ({"rollouts": 0}, "rollouts_per_task must be >= 1"),
        ({"task": ["a b"]}, "task name must match"),
        ({"task": ["a", "a"]}, "names must be unique"),
        ({"task": None}, "no tasks"),
        ({"overrides": ["--sim.image_width=101"]}, "image_width must be an even number"),
        ({"limit": -1}, "--limit must be >= 0"),
    ],
)
def test_config_errors_name_the_field(kwargs, message):
    if "task" not in kwargs:
        kwargs["task"] = ["a"]
    with pytest.raises(ConfigError, match=message):
        load_eval_config(_args(**kwargs))


@pytest.mark.parametrize("text", ["=x", "a=", "  "])
def test_bad_task_flag(text):
    with pytest.raises(ConfigError, match="NAME or NAME=INSTRUCTION"):
        parse_task(text)


def test_unknown_simulator_task_and_policy(tmp_path, capsys):
    assert cli_main.main(["eval", "sim", "--task", "juggle", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "protocol.tasks[0].name: 'juggle' is not a simulator task" in err and "pick_place" in err
    code = cli_main.main(
        ["eval", "sim", "--task", "pick_place", "--out", str(tmp_path / "o"), "--policy", "nope"]
    )
    assert code == 1 and "neither one of ('scripted', 'hold')" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing written on a bad call


def test_report_of_a_directory_without_results(tmp_path, capsys):
    assert cli_main.main(["report", str(tmp_path)]) == 1
    assert "not an evaluation results directory" in capsys.readouterr().err
    assert cli_main.main(["report", str(tmp_path), "--confidence", "1.5"]) == 1


def test_eval_real_needs_a_terminal(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dit4dit_policy.cli",
            "eval",
            "real",
            "--task",
            "stack_cups=stack the cups",
            "--checkpoint",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "needs an interactive terminal" in result.stderr
    assert not (tmp_path / "o").exists()
