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
