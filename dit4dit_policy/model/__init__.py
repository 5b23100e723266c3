"""The DiT4DiT model (torch only): Cosmos video DiT backbone, text cache, action DiT, flow matching.

Never imports ``robot``, ``sim`` or ``ros``. See ../shared/reference/model_spec.md for every number.
"""
