"""The Docker files cannot be built on CI; check that everything they reference exists."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = sorted((ROOT / "docker").glob("Dockerfile.*"))


def test_dockerfiles_present():
    names = {p.name for p in DOCKERFILES}
    assert {"Dockerfile.workstation", "Dockerfile.robot"} <= names


def test_copy_sources_exist():
    for dockerfile in DOCKERFILES:
        for line in dockerfile.read_text().splitlines():
            match = re.match(r"^\s*COPY\s+(?!--from)(.+)$", line)
            if not match:
                continue
            *sources, _dest = match.group(1).split()
            for src in sources:
                assert (ROOT / src).exists(), f"{dockerfile.name}: COPY source {src} does not exist"


def test_robot_image_has_no_torch():
    text = (ROOT / "docker" / "Dockerfile.robot").read_text()
    assert "torch" not in text.replace("no torch", "")
    assert "cyclonedds==0.10" in text


def test_compose_references():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    for service in compose["services"].values():
        build = service["build"]
        assert (ROOT / "docker" / build["context"] / build["dockerfile"]).is_file()
    xml = (ROOT / "docker" / "cyclonedds_robot.xml").read_text()
    assert "NetworkInterface" in xml
