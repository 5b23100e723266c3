"""``dit4dit eval sim``: the evaluation protocol in the MuJoCo simulation, judged by the task predicates.

By default the policy runs in this process against the simulator (simulated time, fast). With
``--graph`` every rollout goes through the full node graph — simulator bridge, controller, camera
and policy as separate processes over loopback DDS, in real time — exactly as on the robot.
"""

from __future__ import annotations

import argparse

COMMAND = ("eval", "sim")
HELP = "evaluate a policy in the MuJoCo simulation: tasks × N seeded rollouts, results, recordings, report"
ACCEPTS_OVERRIDES = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    from dit4dit_policy.evaluation.cli_support import add_protocol_arguments

    add_protocol_arguments(parser, "simulator task (repeatable), e.g. pick_place or stack_cups_heldout")
    parser.add_argument(
        "--policy", default="scripted", help="scripted | hold | CHECKPOINT_DIR (default scripted)"
    )
    parser.add_argument("--device", default="cpu", help="torch device of a checkpoint policy (default cpu)")
    parser.add_argument(
        "--graph",
        action="store_true",
        help="run every rollout through the node graph (separate processes over DDS, real time)",
    )
    parser.add_argument(
        "--domain-id", type=int, default=None, help="--graph: DDS domain (default: random private, loopback)"
    )


def run(args: argparse.Namespace) -> int:
    """Run (or resume) the protocol, then write the report."""
    import os

    # Offscreen rendering without a display (reference/environment.md "MuJoCo"); keep a user's choice.
    os.environ.setdefault("MUJOCO_GL", "egl")
    from dit4dit_policy.errors import ConfigError
    from dit4dit_policy.evaluation import cli_support
    from dit4dit_policy.evaluation.report import build_report
    from dit4dit_policy.evaluation.runner import run_protocol
    from dit4dit_policy.evaluation.sim_setup import make_sim_environment, make_sim_policy, resolve_sim_tasks

    config = resolve_sim_tasks(cli_support.load_eval_config(args))
    if args.graph:
        import random

        from dit4dit_policy.evaluation.identity import checkpoint_id
        from dit4dit_policy.ros.eval_environment import make_sim_graph_environment

        if args.policy == "hold":
            raise ConfigError("--graph runs 'scripted' or a checkpoint, not the in-process 'hold' baseline")
        ident = "scripted-expert" if args.policy == "scripted" else checkpoint_id(args.policy)
        domain = args.domain_id if args.domain_id is not None else random.randint(100, 199)
        environment = make_sim_graph_environment(config, args.policy, args.device, args.out, domain)
    else:
        policy, ident = make_sim_policy(args.policy, config, device=args.device)
        environment = make_sim_environment(config, policy)
    try:
        summary = run_protocol(
            config,
            environment,
            args.out,
            mode="sim-graph" if args.graph else "sim",
            checkpoint_id=ident,
            extra=environment.describe(),
            limit=args.limit,
            on_result=lambda r: print(cli_support.result_line(r), flush=True),
        )
    finally:
        environment.close()
    print("\n".join(cli_support.summary_lines(summary)))
    if not args.no_report:
        files = build_report(args.out, traces=args.traces)
        print(f"report: {files.markdown} and {files.html}")
    return 0
