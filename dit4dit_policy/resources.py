"""Locate installed data files (launch/, config/, urdf/, calibration/) from any install layout.

``colcon build`` installs them into ``share/dit4dit_policy`` (found through ament_index when ROS 2
is sourced); an editable or source checkout keeps them beside the package.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = "dit4dit_policy"
_SOURCE_ROOT = Path(__file__).resolve().parents[1]


def share_dir() -> Path:
    """Directory holding launch/, config/, urdf/, calibration/.

    Raises:
        FileNotFoundError: neither an ament share directory nor a source checkout has them.
    """
    if (_SOURCE_ROOT / "calibration").is_dir() and (_SOURCE_ROOT / "package.xml").is_file():
        return _SOURCE_ROOT
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except (ImportError, LookupError) as exc:
        raise FileNotFoundError(
            f"cannot find the {PACKAGE} data files (no source checkout at {_SOURCE_ROOT} and no ament index)"
        ) from exc


def share_path(*parts: str) -> Path:
    """Path of an installed data file, e.g. ``share_path("calibration", "ego_camera.yaml")``."""
    return share_dir().joinpath(*parts)


#: Where the bundled demo policy lives inside the package (issue: trained policy out of the box).
BUNDLED_CHECKPOINT = Path(__file__).resolve().parent / "assets" / "demo_policy"


def bundled_checkpoint() -> Path | None:
    """The packaged demo checkpoint directory, or None when this install has none."""
    return BUNDLED_CHECKPOINT if (BUNDLED_CHECKPOINT / "contract.json").is_file() else None
