"""setup.py, package.xml and the ROS workspace are consistent with the tree."""

import importlib
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_kwargs() -> dict:
    """Run setup.py with setuptools.setup captured (nothing is built or installed)."""
    code = (
        "import json, runpy, setuptools\n"
        "captured = {}\n"
        "setuptools.setup = lambda **kw: captured.update(kw)\n"
        "runpy.run_path('setup.py', run_name='__main__')\n"
        "print(json.dumps({'entry_points': captured['entry_points'], 'data_files': captured['data_files'],"
        " 'extras_require': captured['extras_require'], 'python_requires': captured['python_requires']}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_console_scripts_resolve():
    scripts = _setup_kwargs()["entry_points"]["console_scripts"]
    assert any(s.startswith("dit4dit =") for s in scripts)
    for spec in scripts:
        name, target = (part.strip() for part in spec.split("="))
        module_name, func = target.split(":")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, func)), f"{name}: {target} is not callable"


def test_data_files_exist_and_cover_share_trees():
    data_files = _setup_kwargs()["data_files"]
    installed = set()
    for dest, files in data_files:
        assert dest.startswith("share/"), dest
        for f in files:
            assert (ROOT / f).is_file(), f"data_files entry {f} does not exist"
            installed.add(f)
    assert "package.xml" in installed and "resource/dit4dit_policy" in installed
    for tree in ("launch", "config", "urdf", "calibration"):
        for path in (ROOT / tree).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                assert path.relative_to(ROOT).as_posix() in installed, f"{path} is not installed"


def test_extras_and_python_range():
    kwargs = _setup_kwargs()
    extras = kwargs["extras_require"]
    for group in ("model", "train", "robot", "sim", "data", "export", "dev", "all"):
        assert group in extras
    assert any(r.startswith("cyclonedds") and "<0.11" in r for r in extras["robot"])
    assert not any(r.startswith("torch") for r in extras["robot"] + extras["sim"])
    assert kwargs["python_requires"] == ">=3.10,<3.13"


def test_package_xml():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "dit4dit_policy"
    deps = {e.text for e in root.findall("exec_depend")}
    for dep in (
        "rclpy",
        "launch_ros",
        "sensor_msgs",
        "trajectory_msgs",
        "std_msgs",
        "diagnostic_msgs",
        "lifecycle_msgs",
    ):
        assert dep in deps
    assert root.find("export/build_type").text == "ament_python"


def test_ros2_workspace_links_package():
    link = ROOT / "ros2_ws" / "src" / "dit4dit_policy"
    assert link.is_symlink() and link.resolve() == ROOT
    assert (ROOT / "ros2_ws" / "README.md").is_file()
    assert (ROOT / "resource" / "dit4dit_policy").is_file()
