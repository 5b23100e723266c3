"""``dit4dit eval real``: the operator-driven real-robot protocol in a terminal (e-stop key at all times).

On the robot the node graph runs under ``ros2 launch dit4dit_policy evaluate.launch.py``; this
console runs in a terminal of its own (it reads single key presses; ``ros2 launch`` gives its
processes no keyboard), on the same ``ROS_DOMAIN_ID``.

Environments (``--environment``):

* ``graph`` (default): the node graph of the robot — ``make_environment(config, checkpoint)`` in
  ``dit4dit_policy.ros.eval_environment`` (drives ``/dit4dit/command`` and ``/dit4dit/task``);
* ``sim``: rehearsal against the in-process simulator at wall-clock pace, with ``--policy``;
* ``package.module:callable``: any factory ``(config, checkpoint) -> RolloutEnvironment``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

COMMAND = ("eval", "real")
HELP = "operator-driven evaluation on the robot: reset, start key, stop/e-stop keys, success marks, report"
ACCEPTS_OVERRIDES = True

GRAPH_FACTORY = "dit4dit_policy.ros.eval_environment:make_environment"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    from dit4dit_policy.evaluation.cli_support import add_protocol_arguments

    add_protocol_arguments(parser, "task as NAME=INSTRUCTION (repeatable), e.g. 'stack_cups=stack the cups'")
    parser.add_argument(
        "--checkpoint", type=Path, help="the checkpoint the policy node runs (identifies the results)"
    )
    parser.add_argument(
        "--environment", default="graph", help="graph | sim | package.module:callable (default graph)"
    )
    parser.add_argument(
        "--policy", default="scripted", help="with --environment sim: scripted | hold | CHECKPOINT_DIR"
    )
    parser.add_argument(
        "--device", default="cpu", help="with --environment sim: torch device of a checkpoint policy"
    )


def run(args: argparse.Namespace) -> int:
    """Run (or resume) the protocol with the terminal operator console, then write the report."""
    from dit4dit_policy.errors import ConfigError, Dit4ditError
    from dit4dit_policy.evaluation import cli_support
    from dit4dit_policy.evaluation.identity import checkpoint_id
    from dit4dit_policy.evaluation.report import build_report
    from dit4dit_policy.evaluation.runner import run_protocol
    from dit4dit_policy.evaluation.terminal import TerminalOperator

    config = cli_support.load_eval_config(args)
    try:
        operator = TerminalOperator()
    except RuntimeError as exc:
        raise Dit4ditError(str(exc)) from exc
    if args.environment == "sim":
        from dit4dit_policy.evaluation.sim_setup import (
            make_sim_environment,
            make_sim_policy,
            resolve_sim_tasks,
        )

        config = resolve_sim_tasks(config)
        policy, ident = make_sim_policy(args.policy, config, device=args.device)
        environment, mode = make_sim_environment(config, policy, realtime=True), "rehearsal"
    else:
        missing = [t.name for t in config.protocol.tasks if t.instruction is None]
        if missing:
            raise ConfigError(f"tasks {missing} need an instruction on the robot (--task NAME=INSTRUCTION)")
        if args.checkpoint is None:
            raise ConfigError("--checkpoint is required on the robot: it identifies the results")
        try:
            factory = cli_support.load_factory(
                GRAPH_FACTORY if args.environment == "graph" else args.environment
            )
        except ConfigError as exc:
            if args.environment != "graph":
                raise
            raise ConfigError(
                f"the node-graph evaluation environment ({GRAPH_FACTORY}) is not available in this "
                f"installation ({exc}); use --environment sim to rehearse the protocol in simulation"
            ) from exc
        environment, ident, mode = factory(config, args.checkpoint), checkpoint_id(args.checkpoint), "real"
    extra = environment.describe() if hasattr(environment, "describe") else {"environment": args.environment}
    try:
        summary = run_protocol(
            config,
            environment,
            args.out,
            mode=mode,
            checkpoint_id=ident,
            extra=extra,
            operator=operator,
            limit=args.limit,
            on_result=lambda r: print(cli_support.result_line(r), flush=True),
        )
    except KeyboardInterrupt:
        environment.estop()
        raise
    finally:
        environment.close()
    print("\n".join(cli_support.summary_lines(summary)))
    if not args.no_report:
        files = build_report(args.out, traces=args.traces)
        print(f"report: {files.markdown} and {files.html}")
    return 0
