"""``dit4dit teleop sim``: drive the in-process MuJoCo G1 from the headset (or a pose log) and record.

Practice and demos without ROS: the teleop server, the retargeting and the recorder run in this
process against the simulator's environment (which stands in for the controller node; the full
graph uses ``ros2 launch dit4dit_policy teleop_record.launch.py``). Keys: r record, s save,
d discard, y/n mark success, q quit. ``--pose-log`` streams a recorded pose log instead of a
headset; ``--autostart`` records one episode from the start until ``--duration`` or the log ends.
"""

from __future__ import annotations

import argparse

COMMAND = ("teleop", "sim")
HELP = "teleoperate the in-process simulator from the headset or a pose log, and record episodes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("--dataset", default=None, help="dataset directory to record into (omit to practice)")
    parser.add_argument("--task", default="", help="instruction of the recorded episodes")
    parser.add_argument(
        "--sim-task", default="close_drawer", help="simulator scene/task (sim.tasks registry)"
    )
    parser.add_argument("--seed", type=int, default=0, help="scene seed")
    parser.add_argument("--image-size", default="224x224", metavar="HxW", help="rendered ego view size")
    parser.add_argument("--host", default="127.0.0.1", help="interface the teleop server binds to")
    parser.add_argument("--port", type=int, default=8012, help="teleop server port")
    parser.add_argument(
        "--cert-dir", default=None, help="certificate directory (default ~/.config/dit4dit/teleop)"
    )
    parser.add_argument(
        "--pose-log", default=None, help="stream this pose log instead of waiting for a headset"
    )
    parser.add_argument("--autostart", action="store_true", help="record one episode from the start")
    parser.add_argument(
        "--duration", type=float, default=0.0, help="stop after this many seconds (0 = until q)"
    )
    parser.add_argument("--codec", choices=("av1", "h264"), default="av1", help="video codec")


def run(args: argparse.Namespace) -> int:
    """Run the 30 Hz loop until quit, the duration, or the end of the pose log."""
    import asyncio
    import os
    import queue
    import threading
    import time

    os.environ.setdefault("MUJOCO_GL", "egl")
    from dit4dit_policy.errors import Dit4ditError
    from dit4dit_policy.record.keyboard import KeyboardControls
    from dit4dit_policy.record.recorder import EpisodeRecorder
    from dit4dit_policy.record.sim_session import SimRecordingSession
    from dit4dit_policy.sim.env import EnvConfig, G1TabletopEnv
    from dit4dit_policy.sim.scene import SceneConfig
    from dit4dit_policy.teleop.cert import default_paths
    from dit4dit_policy.teleop.client import load_pose_log, log_rate_hz, stream_frames
    from dit4dit_policy.teleop.retarget import Retargeter
    from dit4dit_policy.teleop.server import ServerConfig, TeleopServer
    from dit4dit_policy.teleop.session import TeleopSession

    try:
        height, width = (int(v) for v in args.image_size.lower().split("x"))
        server_config = ServerConfig(
            host=args.host, port=args.port, **_cert_args(default_paths(args.cert_dir))
        )
    except ValueError as exc:
        raise Dit4ditError(str(exc)) from exc
    if args.dataset and not args.task.strip():
        raise Dit4ditError("--task is required when recording (--dataset)")
    env = G1TabletopEnv(args.sim_task, EnvConfig(scene=SceneConfig(image_width=width, image_height=height)))
    server = TeleopServer(server_config)
    server.start()
    recorder = EpisodeRecorder(args.dataset, video_codec=args.codec) if args.dataset else None
    sim = SimRecordingSession(env, TeleopSession(server, Retargeter()), recorder, args.task)
    sim.reset(args.seed)
    print(f"teleop page: {server.url}")
    commands: queue.Queue[str] = queue.Queue()
    keyboard = KeyboardControls(commands.put)
    keyboard.start()
    streamer = None
    if args.pose_log:
        frames = load_pose_log(args.pose_log)
        rate = log_rate_hz(frames) or 60.0

        def _stream() -> None:
            asyncio.run(stream_frames(server.url, frames, rate_hz=rate, cafile=server_config.cert_file))
            commands.put("end")

        streamer = threading.Thread(target=_stream, daemon=True)
        streamer.start()
    if args.autostart and recorder is not None:
        sim.start_episode()
    started = time.monotonic()
    next_tick = started
    try:
        while True:
            try:
                command = commands.get_nowait()
            except queue.Empty:
                command = ""
            if command in ("quit", "end") or (args.duration and time.monotonic() - started >= args.duration):
                break
            if recorder is not None:
                _handle(command, sim)
            sim.step()
            next_tick += 1.0 / sim.fps
            time.sleep(max(0.0, next_tick - time.monotonic()))
    except KeyboardInterrupt:
        pass
    finally:
        keyboard.stop()
        if recorder is not None:
            sim.stop_episode(save=True)
            recorder.wait_idle()
            recorder.close()
            for summary in recorder.summaries():
                where = f"episode {summary.episode_index}" if summary.episode_index is not None else "episode"
                print(f"{summary.outcome}: {where}, {summary.frames} frames, {summary.task!r}")
        server.stop()
        env.close()
    return 0


def _cert_args(paths) -> dict[str, str]:
    return {"cert_file": str(paths.cert), "key_file": str(paths.key)}


def _handle(command: str, sim) -> None:
    word, _, argument = command.partition(":")
    if word == "record":
        sim.start_episode()
        print("recording")
    elif word in ("save", "discard"):
        sim.stop_episode(save=word == "save")
        print(f"episode {'saved' if word == 'save' else 'discarded'}")
    elif word in ("success", "failure"):
        sim.mark(word == "success")
    elif word == "task" and argument.strip():
        sim.task = argument.strip()
