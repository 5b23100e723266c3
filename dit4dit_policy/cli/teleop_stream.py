"""``dit4dit teleop stream``: replay a recorded pose log to a running teleop server (no headset needed)."""

from __future__ import annotations

import argparse

COMMAND = ("teleop", "stream")
HELP = "stream a recorded pose log (teleop_node pose_log) to a teleop server, like the headset would"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument(
        "pose_log", help="JSON-lines pose log written by the teleop node (pose_log parameter)"
    )
    parser.add_argument("--url", required=True, help="the teleop page URL https://HOST:PORT/?token=TOKEN")
    parser.add_argument(
        "--cafile", default=None, help="the server's certificate (default ~/.config/dit4dit/teleop/cert.pem)"
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="send rate [Hz] (default: the log's own rate)"
    )
    parser.add_argument("--loop", type=int, default=1, help="play the log this many times")


def run(args: argparse.Namespace) -> int:
    """Stream the log and print the measured loop latency."""
    import asyncio

    from dit4dit_policy.errors import Dit4ditError
    from dit4dit_policy.teleop.cert import default_paths
    from dit4dit_policy.teleop.client import load_pose_log, log_rate_hz, stream_frames

    try:
        frames = load_pose_log(args.pose_log)
    except ValueError as exc:
        raise Dit4ditError(str(exc)) from exc
    if not frames:
        raise Dit4ditError(f"{args.pose_log} holds no pose messages")
    rate = args.rate or log_rate_hz(frames) or 60.0
    cafile = args.cafile or default_paths().cert
    report = asyncio.run(stream_frames(args.url, frames * max(1, args.loop), rate_hz=rate, cafile=cafile))
    print(
        f"sent {report.sent} messages at {report.send_rate_hz:.1f} Hz, {report.acked} acknowledged; "
        f"loop latency p50 {report.latency_percentile(50):.1f} ms, p95 {report.latency_percentile(95):.1f} ms"
    )
    for error in report.errors[:5]:
        print(f"server error: {error}")
    return 0 if not report.errors else 1
