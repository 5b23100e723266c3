"""The DiT4DiT model (torch only): Cosmos video DiT backbone, text cache, action DiT, flow matching.

Never imports ``robot``, ``sim`` or ``ros``. See ../shared/reference/model_spec.md for every number
and ``docs/model.md`` for the overview. Entry points (import them from their modules; this package
does no work at import time):

* ``model.config``: ``ModelConfig``, ``load_model_config(preset, path, overrides)``, ``PRESETS``;
* ``model.build``: ``build_policy(model_config, stats, embodiment_name)``;
* ``model.policy``: ``DiT4DiTPolicy`` (``compute_loss``, ``predict_action_chunk``, ``predict_chunk``,
  ``parameter_groups``, ``last_timings_ms``);
* ``model.checkpoint``: ``save_checkpoint``, ``load_policy``, ``load_authors_checkpoint``;
* ``model.bench``: ``run_policy_bench`` (``dit4dit bench policy``).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public names → defining module, imported on first access (PEP 562), so that
#: ``from dit4dit_policy.model import load_policy`` works without import-time work.
_EXPORTS = {
    "DiT4DiTPolicy": "policy",
    "ModelConfig": "config",
    "build_policy": "build",
    "load_authors_checkpoint": "checkpoint",
    "load_model_config": "config",
    "load_policy": "checkpoint",
    "preset_config": "config",
    "save_checkpoint": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
