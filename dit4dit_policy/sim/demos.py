"""Scripted-expert demonstrations written as a LeRobot v3 dataset (the teleop recorder's format).

Each episode: reset the environment with a seed, roll the expert out, and write one frame per
1/30 s step — the ego image before the action, the measured 16-D state, the commanded 16-D target
and the timestamp — then ``save_episode(task=<instruction>)``. Features are the data module's
``g1_features`` at the simulated image size, robot type ``schema.ROBOT_TYPE``, plus GR00T-style
``meta/modality.json`` (embodiment ``g1_16dof``). Episodes where the expert fails are not written
(the next seed is tried); the seeds of the written episodes go to ``meta/sim_demos.json``.

Crash safety is the writer's: a finished episode is committed atomically, and appending
(``append=True``) reopens and repairs an interrupted dataset instead of overwriting it.

Torch-free.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

from dit4dit_policy import schema
from dit4dit_policy.errors import DatasetError
from dit4dit_policy.sim.env import EnvConfig, G1TabletopEnv
from dit4dit_policy.sim.experts import ScriptedExpert, run_expert_episode
from dit4dit_policy.sim.scene import SceneConfig

#: Sidecar file with the simulation provenance of each episode.
SIM_DEMOS_META = Path("meta") / "sim_demos.json"
#: Give up after this many expert failures per requested episode (a broken task, not bad luck).
MAX_FAILURES_PER_EPISODE = 3


@dataclasses.dataclass
class DemoReport:
    """What :func:`generate_demos` wrote.

    Attributes:
        root: dataset directory.
        episodes: episodes written in this call.
        failures: seeds whose expert rollout failed (not written).
        seeds: seeds of the written episodes, in episode order.
        frames: frames written in this call.
    """

    root: Path
    episodes: int
    failures: list[int]
    seeds: list[int]
    frames: int


def _write_json_atomic(path: Path, data: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def generate_demos(
    task: str,
    episodes: int,
    out: str | Path,
    seed: int = 0,
    image_size: tuple[int, int] = (120, 160),
    video_codec: str = "av1",
    append: bool = False,
    on_episode: Callable[[int, bool, int], None] | None = None,
) -> DemoReport:
    """Generate ``episodes`` successful expert demonstrations of ``task`` into ``out``.

    Args:
        task: task registry name (see :func:`dit4dit_policy.sim.tasks.task_names`).
        episodes: number of episodes to write (>= 1).
        out: dataset directory; must be new or empty unless ``append``.
        seed: first seed; attempt i uses ``seed + i`` (appending continues after the stored seeds).
        image_size: (height, width) of the ego images [px].
        video_codec: ``"av1"`` (LeRobot default) or ``"h264"``.
        append: add episodes to an existing dataset (it must have the same image size).
        on_episode: called after each attempt with (seed, success, frames).

    Returns:
        A :class:`DemoReport`.

    Raises:
        ValueError: bad arguments (unknown task, episodes < 1, bad image size).
        DatasetError: ``out`` exists and is not empty (without ``append``), an append to a dataset
            with other features, or the expert failing too often.
    """
    from dit4dit_policy.data.lerobot_format import g1_features
    from dit4dit_policy.data.lerobot_writer import LeRobotDatasetWriter

    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    height, width = image_size
    root = Path(out)
    env = G1TabletopEnv(task, EnvConfig(scene=SceneConfig(image_height=height, image_width=width)))
    features = g1_features(image_shape=(height, width, 3), video_codec=video_codec)
    meta_path = root / SIM_DEMOS_META
    previous: dict = {"generator": "dit4dit demos (scripted experts)", "episodes": []}
    if append and (root / "meta" / "info.json").is_file():
        writer = LeRobotDatasetWriter.open(root)
        if writer.features[schema.FEATURE_IMAGE_EGO]["shape"] != features[schema.FEATURE_IMAGE_EGO]["shape"]:
            shape = writer.features[schema.FEATURE_IMAGE_EGO]["shape"]
            writer.close()
            raise DatasetError(f"{root} holds {shape} ego images; cannot append {(height, width, 3)} frames")
        if meta_path.is_file():
            previous = json.loads(meta_path.read_text(encoding="utf-8"))
            used = [e["seed"] for e in previous.get("episodes", [])]
            seed = max(seed, max(used, default=seed - 1) + 1)
    else:
        writer = LeRobotDatasetWriter.create(
            root,
            fps=int(schema.CONTROL_RATE_HZ),
            features=features,
            robot_type=schema.ROBOT_TYPE,
            embodiment="g1_16dof",
        )
    expert = ScriptedExpert()
    report = DemoReport(root=root, episodes=0, failures=[], seeds=[], frames=0)
    next_seed = seed
    try:
        while report.episodes < episodes:
            if len(report.failures) > MAX_FAILURES_PER_EPISODE * episodes:
                raise DatasetError(
                    f"the {task} expert failed on {len(report.failures)} seeds ({report.failures[:10]}...); "
                    f"{report.episodes} episodes written"
                )
            current = next_seed
            next_seed += 1
            episode = run_expert_episode(env, expert, current)
            if on_episode is not None:
                on_episode(current, episode.success, len(episode.actions))
            if not episode.success:
                report.failures.append(current)
                continue
            for k, (image, state, action) in enumerate(
                zip(episode.images, episode.states, episode.actions, strict=True)
            ):
                writer.add_frame(
                    {
                        schema.FEATURE_IMAGE_EGO: image,
                        schema.FEATURE_STATE: state,
                        schema.FEATURE_ACTION: action,
                        schema.FEATURE_TIMESTAMP: k * schema.ACTION_DT_S,
                    }
                )
            index = writer.save_episode(task=episode.instruction)
            report.episodes += 1
            report.frames += len(episode.actions)
            report.seeds.append(current)
            previous.setdefault("episodes", []).append(
                {
                    "episode_index": index,
                    "seed": current,
                    "task": env.task.full_name,
                    "instruction": episode.instruction,
                }
            )
            previous["image_size"] = [height, width]
            _write_json_atomic(meta_path, previous)
    finally:
        writer.close()
        env.close()
    return report
