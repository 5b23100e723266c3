"""``dit4dit eval sim``: the evaluation protocol in the in-process MuJoCo simulation, judged by predicates."""

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


def run(args: argparse.Namespace) -> int:
    """Run (or resume) the protocol, then write the report."""
    from dit4dit_policy.evaluation import cli_support
    from dit4dit_policy.evaluation.report import build_report
    from dit4dit_policy.evaluation.runner import run_protocol
    from dit4dit_policy.evaluation.sim_setup import make_sim_environment, make_sim_policy, resolve_sim_tasks

    config = resolve_sim_tasks(cli_support.load_eval_config(args))
    policy, ident = make_sim_policy(args.policy, config, device=args.device)
    environment = make_sim_environment(config, policy)
    try:
        summary = run_protocol(
            config,
            environment,
            args.out,
            mode="sim",
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
