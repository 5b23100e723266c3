"""``dit4dit dataset info PATH``: summary of a LeRobot dataset (version, features, episodes, tasks)."""

from __future__ import annotations

import argparse
import json

COMMAND = ("dataset", "info")
HELP = "summarise a LeRobot dataset: version, features, episodes, frames, tasks, modality"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("path", help="dataset directory")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Print the summary."""
    from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
    from dit4dit_policy.data.modality import match_embodiment

    ds = LeRobotDataset(args.path)
    lengths = ds.episode_lengths
    summary = {
        "path": str(ds.root),
        "codebase_version": ds.version,
        "robot_type": ds.robot_type,
        "fps": ds.fps,
        "episodes": ds.num_episodes,
        "frames": ds.num_frames,
        "duration_s": round(ds.num_frames / ds.fps, 3),
        "episode_length": {
            "min": int(lengths.min()),
            "mean": float(lengths.mean()),
            "max": int(lengths.max()),
        }
        if len(lengths)
        else None,
        "tasks": ds.tasks,
        "features": {
            key: {
                "dtype": f["dtype"],
                "shape": list(f["shape"]),
                **({"codec": f["info"].get("video.codec")} if f.get("info") else {}),
            }
            for key, f in ds.features.items()
        },
        "embodiment": match_embodiment(ds.modality) if ds.modality else None,
        "has_stats": ds.stats is not None,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{summary['path']}  (LeRobot {ds.version}, robot_type {ds.robot_type}, {ds.fps} fps)")
    length = summary["episode_length"]
    length_text = (
        f", length min/mean/max {length['min']}/{length['mean']:.1f}/{length['max']}" if length else ""
    )
    print(
        f"episodes: {ds.num_episodes}, frames: {ds.num_frames} ({summary['duration_s']:.1f} s){length_text}"
    )
    print(f"tasks ({len(ds.tasks)}):")
    for index, task in enumerate(ds.tasks[:20]):
        print(f"  {index:>3}  {task}")
    if len(ds.tasks) > 20:
        print(f"  … {len(ds.tasks) - 20} more")
    print("features:")
    for key, feature in summary["features"].items():
        codec = f"  [{feature['codec']}]" if "codec" in feature else ""
        print(f"  {key:<34} {feature['dtype']:<8} {tuple(feature['shape'])}{codec}")
    print(
        f"modality.json: {summary['embodiment'] or ('present' if ds.modality else 'absent')}; "
        f"stats.json: {'present' if summary['has_stats'] else 'absent'}"
    )
    return 0
