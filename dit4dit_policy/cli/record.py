"""``dit4dit record``: record demonstrations at 30 Hz into a LeRobot dataset, with keyboard controls.

Runs the recorder node in this terminal (keys: r record, s save, d discard, y/n success, t task,
q quit; the same words on ``/dit4dit/command``). It pairs ``/camera/ego/image_raw``,
``/g1/joint_states`` and the commands on ``/dit4dit/action_chunk``, so the camera and controller
nodes must run (robot: ``ros2 launch dit4dit_policy teleop_record.launch.py``; simulator: the
simulated graph on domain 1).

``--teleop`` also starts the VR teleop node as a child process (its page URL is printed), and
``--pose-log FILE`` streams a recorded headset pose log to it instead of a headset. ``--sim`` selects
the simulator's graph (domain 1, loopback) and implies ``--teleop``. Extra ``--key=value`` options
override recorder parameters (``RecorderNodeConfig``), e.g. ``--pairing.pairing_delay_s=0.1``.
"""

from __future__ import annotations

import argparse
import os

COMMAND = ("record",)
HELP = "record teleoperated demonstrations (camera + joint states + commands at 30 Hz) into a dataset"
ACCEPTS_OVERRIDES = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("--dataset", required=True, help="dataset directory (created, or appended to)")
    parser.add_argument(
        "--task", default="", help="instruction of the episodes (change per episode with key t)"
    )
    parser.add_argument(
        "--sim", action="store_true", help="the simulator's graph: domain 1 on loopback; starts teleop"
    )
    parser.add_argument(
        "--domain", type=int, default=None, help="DDS domain (default $ROS_DOMAIN_ID or 0; 1 with --sim)"
    )
    parser.add_argument("--interface", default=None, help="DDS network interface ('lo' = loopback only)")
    parser.add_argument("--image-size", default=None, metavar="HxW", help="store frames at this size")
    parser.add_argument("--codec", choices=("av1", "h264"), default="av1", help="video codec (default av1)")
    parser.add_argument("--autostart", action="store_true", help="start the first episode immediately")
    parser.add_argument("--max-episode-s", type=float, default=0.0, help="save each episode after this long")
    parser.add_argument(
        "--duration", type=float, default=0.0, help="quit after this many seconds (0 = until q)"
    )
    parser.add_argument("--teleop", action="store_true", help="also run the VR teleop node")
    parser.add_argument("--teleop-host", default="127.0.0.1", help="interface the teleop server binds to")
    parser.add_argument("--teleop-port", type=int, default=8012, help="teleop server port")
    parser.add_argument("--cert-dir", default=None, help="teleop certificate directory")
    parser.add_argument(
        "--pose-log", default=None, help="stream this pose log to the teleop node (implies --teleop)"
    )
    parser.add_argument("--sim-task", default="close_drawer", help="simulator task with --sim")
    parser.add_argument("--seed", type=int, default=0, help="simulator scene seed with --sim")


def _recorder_config(args: argparse.Namespace):
    from dit4dit_policy import config as cfg
    from dit4dit_policy.errors import Dit4ditError
    from dit4dit_policy.ros.recorder_node import RecorderNodeConfig

    overrides = [
        f"--dataset={args.dataset}",
        f"--video_codec={args.codec}",
        f"--max_episode_s={args.max_episode_s}",
    ]
    if args.task:
        overrides.append(f"--task={args.task}")
    if args.autostart:
        overrides.append("--autostart=true")
    if args.image_size:
        try:
            height, width = (int(v) for v in args.image_size.lower().split("x"))
        except ValueError as exc:
            raise Dit4ditError(f"--image-size must look like 480x640, got {args.image_size!r}") from exc
        overrides += [f"--image_height={height}", f"--image_width={width}"]
    return cfg.load(RecorderNodeConfig, None, [*overrides, *args.overrides])


def _teleop_params(args: argparse.Namespace, url_file) -> list[str]:
    params = [f"server.host={args.teleop_host}", f"server.port={args.teleop_port}", f"url_file={url_file}"]
    if args.cert_dir:
        from dit4dit_policy.teleop.cert import default_paths

        paths = default_paths(args.cert_dir)
        params += [f"server.cert_file={paths.cert}", f"server.key_file={paths.key}"]
    return params


def _wait_for_url(url_file, check, log: str) -> str:
    import time

    deadline = time.monotonic() + 120
    while not url_file.is_file():
        check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"the teleop node did not start; see {log}")
        time.sleep(0.1)
    return url_file.read_text().strip()


def run(args: argparse.Namespace) -> int:
    """Start the optional teleop child (or the simulated graph), run the recorder until q / Ctrl-C."""
    import contextlib
    import sys
    import tempfile
    from pathlib import Path

    from dit4dit_policy.ros.processes import ProcessGroup

    config = _recorder_config(args)
    domain = (
        args.domain
        if args.domain is not None
        else (1 if args.sim else int(os.environ.get("ROS_DOMAIN_ID", "0")))
    )
    interface = args.interface or ("lo" if args.sim else None)
    workdir = Path(tempfile.mkdtemp(prefix="dit4dit-record-"))
    url_file = workdir / "teleop_url.txt"
    with contextlib.ExitStack() as stack:
        if args.sim:
            from dit4dit_policy.ros.teleop_sim_graph import SimGraph, SimGraphConfig

            print(f"starting the simulated graph on domain {domain} (logs in {workdir}) …")
            sim = stack.enter_context(
                SimGraph(
                    SimGraphConfig(
                        domain_id=domain,
                        task=args.sim_task,
                        seed=args.seed,
                        log_dir=workdir,
                        teleop_params=_teleop_params(args, url_file),
                    )
                )
            )
            url = _wait_for_url(url_file, sim.group.check, str(workdir / "teleop.log"))
        elif args.teleop or args.pose_log:
            group = stack.enter_context(ProcessGroup(workdir))
            argv = [sys.executable, "-m", "dit4dit_policy.ros.teleop_node", "--backend", "dds"]
            argv += ["--domain-id", str(domain), *(["--interface", interface] if interface else [])]
            for param in _teleop_params(args, url_file):
                argv += ["--param", param]
            group.start("teleop", argv)
            url = _wait_for_url(url_file, group.check, str(workdir / "teleop.log"))
        else:
            url = ""
        if url:
            print(f"teleop page (open on the headset): {url}")
            if args.pose_log:
                _stream_in_background(args.pose_log, url, args.cert_dir)
        _record(config, domain, interface, args.duration)
    return 0


def _record(config, domain: int, interface: str | None, duration: float) -> None:
    import threading

    from dit4dit_policy.ros.dds_backend.graph import DdsGraph
    from dit4dit_policy.ros.graph import LifecycleState
    from dit4dit_policy.ros.recorder_node import RecorderNode

    graph = DdsGraph(RecorderNode.NAME, domain, interface)
    node = RecorderNode(graph, config)
    timer = threading.Timer(duration, graph.request_shutdown, args=("duration",)) if duration else None
    if timer is not None:
        timer.start()
    try:
        if node.trigger("configure") and node.trigger("activate"):
            print(f"recording into {config.dataset} on domain {domain}; press h for the keys")
            graph.spin()
    except KeyboardInterrupt:
        pass
    finally:
        if timer is not None:
            timer.cancel()
        if node.state is LifecycleState.ACTIVE:
            node.trigger("deactivate")
        if node.state is LifecycleState.INACTIVE:
            node.trigger("cleanup")
        graph.close()
    for summary in node._recorder.summaries():
        where = f"episode {summary.episode_index}" if summary.episode_index is not None else "episode"
        print(
            f"{summary.outcome}: {where} {summary.frames} frames, task {summary.task!r}, {summary.counters}"
        )


def _stream_in_background(pose_log: str, url: str, cert_dir: str | None) -> None:
    import asyncio
    import threading

    from dit4dit_policy.teleop.cert import default_paths
    from dit4dit_policy.teleop.client import load_pose_log, log_rate_hz, stream_frames

    frames = load_pose_log(pose_log)
    rate = log_rate_hz(frames) or 60.0
    cafile = default_paths(cert_dir).cert
    threading.Thread(
        target=lambda: asyncio.run(stream_frames(url, frames, rate_hz=rate, cafile=cafile)), daemon=True
    ).start()
