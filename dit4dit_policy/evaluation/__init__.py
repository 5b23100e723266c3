"""Evaluation: 20-rollout real and simulated protocols, offline open-loop evaluation, metrics, reports."""
