"""Building a simulation evaluation from names: tasks from the simulator's registry, a policy by spec.

Policy specs: ``scripted`` (the simulator's scripted experts), ``hold`` (the do-nothing baseline),
or a checkpoint directory (loaded with ``dit4dit_policy.model.checkpoint.load_policy``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dit4dit_policy.errors import ConfigError
from dit4dit_policy.evaluation.config import EvalConfig
from dit4dit_policy.evaluation.identity import checkpoint_id
from dit4dit_policy.evaluation.sim_env import (
    CheckpointPolicy,
    HoldPolicy,
    ScriptedExpertPolicy,
    SimPolicy,
    SimRolloutEnvironment,
    SimRolloutOptions,
)

#: Policy specs that are not checkpoint paths.
BUILTIN_POLICIES = ("scripted", "hold")


def resolve_sim_tasks(config: EvalConfig) -> EvalConfig:
    """Check task names against the simulator's registry and fill in each task's own time limit.

    Instructions stay None unless configured: the simulator randomises them per episode (seed).

    Returns:
        A copy of ``config`` with every task's ``time_limit_s`` set.

    Raises:
        ConfigError: an unknown task name (the message lists the registered ones).
    """
    from dit4dit_policy.sim.tasks import make_task, task_names

    tasks = []
    for i, spec in enumerate(config.protocol.tasks):
        try:
            task = make_task(spec.name)
        except ValueError as exc:
            raise ConfigError(
                f"protocol.tasks[{i}].name: {spec.name!r} is not a simulator task "
                f"(registered: {', '.join(task_names())})"
            ) from exc
        limit = spec.time_limit_s if spec.time_limit_s is not None else float(task.time_limit_s)
        tasks.append(dataclasses.replace(spec, time_limit_s=limit))
    protocol = dataclasses.replace(config.protocol, tasks=tasks)
    return dataclasses.replace(config, protocol=protocol)


def make_sim_policy(spec: str, config: EvalConfig, device: str = "cpu") -> tuple[SimPolicy, str]:
    """A policy and its id (for the results fingerprint) from ``spec``.

    Args:
        spec: ``scripted``, ``hold`` or a checkpoint directory.
        config: evaluation config (``sim.policy_seed`` seeds a model's sampling noise).
        device: torch device of a checkpoint policy.

    Returns:
        (policy, checkpoint id).

    Raises:
        FileNotFoundError: the checkpoint does not exist.
        CheckpointError: the checkpoint cannot be loaded.
    """
    if spec == "scripted":
        return ScriptedExpertPolicy(), "scripted-expert"
    if spec == "hold":
        return HoldPolicy(), "hold-baseline"
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(
            f"policy {spec!r} is neither one of {BUILTIN_POLICIES} nor an existing checkpoint directory"
        )
    from dit4dit_policy.model.checkpoint import load_policy

    ident = checkpoint_id(path)
    return CheckpointPolicy(load_policy(path, device=device), name=ident, seed=config.sim.policy_seed), ident


def make_sim_environment(
    config: EvalConfig, policy: SimPolicy, realtime: bool = False
) -> SimRolloutEnvironment:
    """The in-process simulation environment for ``config`` (scene image size, execution, recording).

    Args:
        config: evaluation config.
        policy: the policy to run.
        realtime: pace the simulation to the wall clock (operator rehearsal).
    """
    from dit4dit_policy.sim.env import EnvConfig
    from dit4dit_policy.sim.scene import SceneConfig

    env_config = EnvConfig(
        scene=SceneConfig(image_width=config.sim.image_width, image_height=config.sim.image_height)
    )
    options = SimRolloutOptions(
        execute_steps=config.sim.execute_steps, render=config.recording.enabled, realtime=realtime
    )
    return SimRolloutEnvironment(policy, env_config, options)
