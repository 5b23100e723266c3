"""Launch files and their parameter files (ros2 launch is not installed here: checked statically).

* every launch argument is documented (`ros2 launch … --show-args` prints the descriptions);
* every executable is one of the package's console scripts;
* every referenced file exists in the package's share tree;
* every node section of every parameter file loads through that node's config dataclass, so a
  misspelt parameter fails here instead of at the robot.
"""

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dit4dit_policy import config as cfg

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))

NODES = {
    "camera_node": "dit4dit_policy.ros.camera_node:CameraNode",
    "policy_node": "dit4dit_policy.ros.policy_node:PolicyNode",
    "controller_node": "dit4dit_policy.ros.controller_node:ControllerNode",
    "sim_bridge_node": "dit4dit_policy.ros.sim_bridge_node:SimBridgeNode",
    "teleop_node": "dit4dit_policy.ros.teleop_node:TeleopNode",
    "recorder_node": "dit4dit_policy.ros.recorder_node:RecorderNode",
}
#: Values that launch files pass as arguments (no default in the parameter files).
LAUNCH_OVERRIDES = {
    "policy_node": ["--checkpoint=/path/to/checkpoint"],
    "recorder_node": ["--dataset=/tmp/dataset", "--task=stack the cups"],
}


def _console_scripts() -> set[str]:
    code = (
        "import json, runpy, setuptools\ncaptured = {}\n"
        "setuptools.setup = lambda **kw: captured.update(kw)\n"
        "runpy.run_path('setup.py', run_name='__main__')\n"
        "print(json.dumps(captured['entry_points']['console_scripts']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return {s.split("=")[0].strip() for s in json.loads(out.stdout.strip().splitlines()[-1])}


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == name
    ]


def test_launch_files_exist():
    names = {p.name for p in LAUNCH_FILES}
    assert {"g1_policy.launch.py", "sim.launch.py", "teleop_record.launch.py", "evaluate.launch.py"} <= names


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_is_consistent(path):
    tree = ast.parse(path.read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    declared = _calls(tree, "DeclareLaunchArgument")
    assert declared, "declares no arguments"
    for call in declared:
        keywords = {k.arg: k.value for k in call.keywords}
        assert "description" in keywords and keywords["description"].value.strip(), ast.unparse(call)
    scripts = _console_scripts()
    for call in _calls(tree, "Node"):
        keywords = {k.arg: k.value for k in call.keywords}
        if "executable" in keywords and isinstance(keywords["executable"], ast.Constant):
            assert keywords["executable"].value in scripts, keywords["executable"].value
    for call in _calls(tree, "PathJoinSubstitution"):
        parts = [e.value for e in call.args[0].elts if isinstance(e, ast.Constant)]
        assert (ROOT.joinpath(*parts)).exists(), parts
    for call in _calls(tree, "LaunchConfiguration"):
        name = call.args[0].value
        assert name in {c.args[0].value for c in declared}, f"LaunchConfiguration({name!r}) is not declared"


def _node_class(spec: str):
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_parameter_files_load_through_node_configs(path):
    data = cfg.read_yaml(path)
    sections = [k for k in data if isinstance(data[k], dict) and "ros__parameters" in data[k]]
    assert sections, f"{path.name} has no '<node>: ros__parameters:' section"
    for node in sections:
        assert node in NODES, f"{path.name}: unknown node section {node!r}"
        cls = _node_class(NODES[node])
        cfg.load_ros_params(cls.CONFIG, path, node, LAUNCH_OVERRIDES.get(node, []))


def test_bad_parameter_is_caught(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "controller_node:\n  ros__parameters:\n    controller:\n      link:\n        interfce: eth0\n"
    )
    with pytest.raises(Exception, match="did you mean 'interface'"):
        cfg.load_ros_params(_node_class(NODES["controller_node"]).CONFIG, bad, "controller_node")


class _Stub:
    """Stands in for a launch class: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration(_Stub):
    def perform(self, context):
        return context[self.args[0]]


def _load_evaluate_launch(monkeypatch):
    """evaluate.launch.py with the launch packages (not installed here) replaced by stubs."""
    import types

    names = {
        "launch": ["LaunchDescription"],
        "launch.actions": [
            "DeclareLaunchArgument",
            "ExecuteProcess",
            "IncludeLaunchDescription",
            "LogInfo",
            "OpaqueFunction",
        ],
        "launch.launch_description_sources": ["PythonLaunchDescriptionSource"],
        "launch.substitutions": ["PathJoinSubstitution"],
        "launch_ros": [],
        "launch_ros.substitutions": ["FindPackageShare"],
    }
    for module, classes in names.items():
        stub = types.ModuleType(module)
        for name in classes:
            setattr(stub, name, type(name, (_Stub,), {}))
        monkeypatch.setitem(sys.modules, module, stub)
    sys.modules["launch.substitutions"].LaunchConfiguration = _LaunchConfiguration
    spec = importlib.util.spec_from_file_location("evaluate_launch", ROOT / "launch" / "evaluate.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_evaluate_launch_runs_the_operator_console_only_in_a_terminal(monkeypatch):
    """`ros2 launch` gives its processes no keyboard; the console needs one (e-stop key)."""
    tree = ast.parse((ROOT / "launch" / "evaluate.launch.py").read_text())
    for call in _calls(tree, "ExecuteProcess"):
        assert "prefix" in {k.arg for k in call.keywords}, ast.unparse(call)

    module = _load_evaluate_launch(monkeypatch)
    description = module.generate_launch_description()
    assert any(type(a).__name__ == "OpaqueFunction" for a in description.args[0])
    context = {"checkpoint": "/ckpt", "rollouts": "20", "console_terminal": "", "eval_task": "", "out": ""}
    # Default: only the graph; the console command is printed for a second terminal.
    [log] = module._console(context)
    assert type(log).__name__ == "LogInfo"
    printed = log.kwargs["msg"].splitlines()[-1].strip()
    assert printed == (
        "dit4dit eval real --checkpoint /ckpt --task NAME=INSTRUCTION --rollouts 20 --out RESULTS_DIR"
    )
    # With a terminal emulator: the console runs in its window, the arguments filled in.
    context.update(console_terminal="xterm -e", eval_task="stack_cups=stack the cups", out="/data/run1")
    [console] = module._console(context)
    assert type(console).__name__ == "ExecuteProcess" and console.kwargs["prefix"] == "xterm -e"
    cmd = console.kwargs["cmd"]
    assert cmd[:3] == ["dit4dit", "eval", "real"] and "emulate_tty" not in console.kwargs
    assert cmd[cmd.index("--task") + 1] == "stack_cups=stack the cups"
    assert cmd[cmd.index("--out") + 1] == "/data/run1"
    context.update(out="")
    with pytest.raises(RuntimeError, match="out:="):
        module._console(context)


def _argument_defaults(tree: ast.AST) -> dict[str, str | None]:
    """Declared launch arguments → their constant default (None: none, or not a constant)."""
    defaults = {}
    for call in _calls(tree, "DeclareLaunchArgument"):
        keywords = {k.arg: k.value for k in call.keywords}
        default = keywords.get("default_value")
        defaults[call.args[0].value] = default.value if isinstance(default, ast.Constant) else None
    return defaults


def _node_overrides(path: Path) -> dict[str, dict[str, str | None]]:
    """Per node name: the parameter overrides its ``Node(parameters=[params, {...}])`` passes, each
    value the constant or the default of the launch argument it names (None: no constant default)."""
    tree = ast.parse(path.read_text())
    defaults = _argument_defaults(tree)
    result: dict[str, dict[str, str | None]] = {}
    for call in _calls(tree, "Node"):
        keywords = {k.arg: k.value for k in call.keywords}
        if not isinstance(keywords.get("name"), ast.Constant) or "parameters" not in keywords:
            continue
        overrides = result.setdefault(keywords["name"].value, {})
        for element in getattr(keywords["parameters"], "elts", []):
            if not isinstance(element, ast.Dict):
                continue
            for key, value in zip(element.keys, element.values, strict=True):
                if isinstance(value, ast.Constant):
                    overrides[key.value] = str(value.value)
                elif isinstance(value, ast.Call) and getattr(value.func, "id", None) == "LaunchConfiguration":
                    overrides[key.value] = defaults[value.args[0].value]
    return result


@pytest.mark.parametrize(
    "path", [ROOT / "launch" / "g1_policy.launch.py", ROOT / "launch" / "teleop_record.launch.py"], ids=str
)
def test_launch_parameter_overrides_are_node_parameters(path):
    """Every `{key: value}` a launch file passes to a node is a parameter of that node's config, and
    the argument defaults load through it together with the file's parameter file."""
    tree = ast.parse(path.read_text())
    [params_file] = [c for c in _calls(tree, "DeclareLaunchArgument") if c.args[0].value == "params_file"]
    [join] = _calls(params_file, "PathJoinSubstitution")
    yaml_path = ROOT.joinpath(*[e.value for e in join.args[0].elts if isinstance(e, ast.Constant)])
    overrides = _node_overrides(path)
    assert overrides
    for node, values in overrides.items():
        argv = [*LAUNCH_OVERRIDES.get(node, [])]
        argv += [f"--{k}={v}" for k, v in values.items() if v is not None]
        cfg.load_ros_params(_node_class(NODES[node]).CONFIG, yaml_path, node, argv)


def test_operator_stop_holds_is_off_on_the_robot_graph_and_on_for_the_evaluation(monkeypatch):
    """`g1_policy.launch.py operator_stop_holds:=…` sets controller.supervisor.operator_stop_holds
    (default false: `stop` ramps out after stop_hold_s); `evaluate.launch.py` sets it true, so the
    rollout's `stop` holds the arms until the verdict (docs/evaluation.md)."""
    g1 = ROOT / "launch" / "g1_policy.launch.py"
    tree = ast.parse(g1.read_text())
    assert _argument_defaults(tree)["operator_stop_holds"] == "false"
    overrides = _node_overrides(g1)["controller_node"]
    assert overrides["controller.supervisor.operator_stop_holds"] == "false"
    node_config = _node_class(NODES["controller_node"]).CONFIG
    yaml_path = ROOT / "config" / "g1_robot.yaml"
    for value, expected in (("false", False), ("true", True)):
        loaded = cfg.load_ros_params(
            node_config,
            yaml_path,
            "controller_node",
            [f"--controller.supervisor.operator_stop_holds={value}"],
        )
        assert loaded.controller.supervisor.operator_stop_holds is expected
    assert (
        cfg.load_ros_params(
            node_config, yaml_path, "controller_node"
        ).controller.supervisor.operator_stop_holds
        is False
    )

    module = _load_evaluate_launch(monkeypatch)
    [include] = [
        a
        for a in module.generate_launch_description().args[0]
        if type(a).__name__ == "IncludeLaunchDescription"
    ]
    passed = dict(include.kwargs["launch_arguments"])
    assert passed["operator_stop_holds"] == "true"
    assert set(passed) <= set(_argument_defaults(tree)), "evaluate.launch.py passes an undeclared argument"
