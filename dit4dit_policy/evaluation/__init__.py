"""Evaluation: the rollout protocol (real robot and simulation), offline open-loop evaluation, reports.

Modules, calls pointing downward only (docs/evaluation.md)::

    runner.run_protocol ── plan (order, seeds) ── results (durable JSONL store) ── recording (LeRobot)
         │
         ├── interface: RolloutEnvironment / Operator contracts, AutomaticOperator
         ├── terminal: TerminalOperator (operator console, e-stop key thread)
         └── sim_env / sim_setup: SimRolloutEnvironment + policies over dit4dit_policy.sim
    report ── summary (per-task stats) ── metrics (Wilson, Newcombe, z-test, Fisher) ── plots, document
    offline / offline_report: open-loop chunk errors through the training transforms (needs torch)

Nothing here imports torch at module level; the simulator and the model are imported where used.
"""
