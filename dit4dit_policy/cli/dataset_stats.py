"""``dit4dit dataset stats PATH [--write]``: recompute feature statistics in one streaming pass."""

from __future__ import annotations

import argparse
import json

COMMAND = ("dataset", "stats")
HELP = "recompute statistics (min/max/mean/std/quantiles) in one pass; --write updates meta/stats.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("path", help="dataset directory")
    parser.add_argument("--write", action="store_true", help="rewrite meta/stats.json (atomically)")
    parser.add_argument("--no-videos", action="store_true", help="skip per-channel image statistics")
    parser.add_argument("--json", action="store_true", help="print the full stats.json content")


def run(args: argparse.Namespace) -> int:
    """Compute, print and optionally write the statistics."""
    import numpy as np

    from dit4dit_policy.data import dataset_stats
    from dit4dit_policy.data import lerobot_format as fmt
    from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
    from dit4dit_policy.errors import DatasetError

    ds = LeRobotDataset(args.path)
    accumulator = dataset_stats.recompute(ds, visual=not args.no_videos, progress=True)
    stats = accumulator.to_json()
    if args.json:
        print(json.dumps(stats, indent=1))
    else:
        for key in (k for k in ("observation.state", "action") if k in stats):
            entry = {name: np.asarray(value).reshape(-1) for name, value in stats[key].items()}
            names = ds.features[key].get("names") or [str(i) for i in range(len(entry["min"]))]
            print(f"{key} ({int(entry['count'][0])} frames)")
            print(f"  {'dim':<28} {'min':>9} {'q01':>9} {'mean':>9} {'std':>9} {'q99':>9} {'max':>9}")
            for i, name in enumerate(names):
                row = " ".join(f"{entry[s][i]:>9.4f}" for s in ("min", "q01", "mean", "std", "q99", "max"))
                print(f"  {name!s:<28} {row}")
    if args.write:
        if ds.version != fmt.CODEBASE_VERSION:
            raise DatasetError(f"--write needs a {fmt.CODEBASE_VERSION} dataset; {args.path} is {ds.version}")
        fmt.write_json_atomic(ds.root / fmt.STATS_PATH, stats)
        if ds.info.get("total_episodes") == ds.num_episodes:
            accumulator.save_state(ds.root)
        print(f"wrote {ds.root / fmt.STATS_PATH}")
    return 0
