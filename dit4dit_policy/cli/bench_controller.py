"""``dit4dit bench controller``: controller loop period p50/p99/max at 250 and 500 Hz under load.

Prints, per rate, our fixed-rate loop against a naive ``sleep(period)`` loop running the same
controller tick in the same run, the ratio of their p99 period deviations, and whether the issue-4
target (p99 deviation ≤ 0.5 ms at 250 Hz) is met. See :mod:`dit4dit_policy.robot.bench`.
"""

from __future__ import annotations

import argparse
import json

COMMAND = ("bench", "controller")
HELP = "controller loop timing (p50/p99/max) at 250/500 Hz with one core busy, vs a naive sleep loop"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per loop and rate [s]")
    parser.add_argument("--rates", type=float, nargs="+", default=[250.0, 500.0], help="loop rates [Hz]")
    parser.add_argument(
        "--domain", type=int, default=231, help="private loopback DDS domain for the benchmark"
    )
    parser.add_argument("--no-load", action="store_true", help="do not keep a CPU core busy")
    parser.add_argument("--spin", type=float, default=None, help="loop spin before each deadline [s]")
    parser.add_argument(
        "--realtime-priority",
        type=int,
        default=None,
        help="SCHED_FIFO priority for the loop thread (needs CAP_SYS_NICE)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if the 250 Hz target is missed")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the table."""
    from dit4dit_policy.errors import ConfigError
    from dit4dit_policy.robot import bench
    from dit4dit_policy.robot.loop import LoopConfig

    if not 1.0 <= args.duration <= 3600.0:
        raise ConfigError(f"--duration must be in [1, 3600] s, got {args.duration}")
    for rate in args.rates:
        if not 10.0 <= rate <= 1000.0:
            raise ConfigError(f"--rates must be in [10, 1000] Hz, got {rate}")
    spin = LoopConfig.spin_s if args.spin is None else args.spin
    result = bench.run(args.rates, args.duration, args.domain, not args.no_load, spin, args.realtime_priority)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        load = "one core busy" if result["load"] else "no load"
        rt = f", SCHED_FIFO {args.realtime_priority}" if args.realtime_priority else ""
        print(f"controller loop, full tick in RUN, {args.duration:g} s per loop")
        print(f"({load}, spin {spin * 1e3:g} ms{rt}; both loops run the same tick with the same scheduling)")
        header = ("rate", "loop", "p50", "p99", "max", "dev p99", "overruns", "Hz")
        print(" ".join(f"{h:>{6 if i < 2 else 8}}" for i, h in enumerate(header)) + "   [ms]")
        for r in result["rates"]:
            for name in ("ours", "naive"):
                s = r[name]
                print(
                    f"{r['rate_hz']:>6g} {name:>6} {s['period_p50_ms']:>8.3f} {s['period_p99_ms']:>8.3f} "
                    f"{s['period_max_ms']:>8.3f} {s['deviation_p99_ms']:>8.3f} {s['overruns']:>8} "
                    f"{r[name + '_achieved_hz']:>8.1f}"
                )
            print(
                f"{r['rate_hz']:>6g}  p99 deviation: naive / ours = {r['deviation_ratio']:.1f}x; "
                f"tick work p99 {r['ours']['work_p99_ms']:.3f} ms"
            )
        c = result["codec"]
        print(
            f"LowCmd encode+CRC: wire {c['wire_us']:.1f} us vs cyclonedds + struct CRC "
            f"{c['reference_us']:.1f} us = {c['ratio']:.1f}x faster"
        )
        if result["target_met"] is not None:
            verdict = "met" if result["target_met"] else "MISSED"
            print(f"target p99 deviation <= {result['target_p99_deviation_ms']} ms at 250 Hz: {verdict}")
    return 1 if (args.strict and result["target_met"] is False) else 0
