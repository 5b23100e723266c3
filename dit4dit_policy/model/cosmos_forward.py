"""Forward passes of diffusers' ``CosmosTransformer3DModel`` split into reusable pieces.

diffusers' own ``forward`` (0.37-0.42) always runs all blocks plus the output layer, and resizes the
padding mask with ``torchvision`` (a ``NameError`` when torchvision is absent; model_spec §7.13).
These functions run the same modules op for op so that

* :func:`extract_features` stops after block k and returns the block-k output, which equals (bit
  for bit in fp32) what a forward hook on ``transformer_blocks[k]`` captures during the full forward
  (model_spec §8 "Truncated forward recipe");
* :func:`prompt_context_kv` projects a prompt's cross-attention K/V for blocks 0..k once, so a
  policy serving one instruction does not redo ``crossattn_proj`` (100352→1024) and the text K/V
  at every control step;
* :func:`full_forward` reproduces the complete output (for the video flow-matching loss).

The padding mask is resized with nearest ``F.interpolate`` — what torchvision's tensor NEAREST
resize does (and the Cosmos mask is all zeros anyway).

Shapes: latents (B, C=16, T, h, w) with h, w = H/8, W/8; tokens S = T·(h/2)·(w/2) in (t, h, w)
raster order; width D = heads × head_dim.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from diffusers.models.attention_dispatch import dispatch_attention_fn

#: Cross-attention K and V of one block, each (B, heads, L, head_dim) after QK-norm.
BlockKV = tuple[torch.Tensor, torch.Tensor]


@dataclasses.dataclass
class EmbeddedInputs:
    """Token-level inputs shared by all blocks.

    Attributes:
        hidden: (B, S, D) patch-embedded tokens.
        embedded_timestep: (B, S, D) RMS-normalised sinusoidal timestep per token.
        temb: (B, S, 3D) timestep MLP output per token.
        rope: (cos, sin) of the 3-D rotary embedding, each (S, head_dim).
        grid: (T, h/2, w/2) token grid.
    """

    hidden: torch.Tensor
    embedded_timestep: torch.Tensor
    temb: torch.Tensor
    rope: tuple[torch.Tensor, torch.Tensor]
    grid: tuple[int, int, int]


def embed_inputs(
    transformer,
    latents: torch.Tensor,
    condition_mask: torch.Tensor,
    timestep: torch.Tensor,
    padding_mask: torch.Tensor,
) -> EmbeddedInputs:
    """Steps 1-4 of the diffusers forward: mask channels, RoPE, patch embedding, per-frame time.

    Args:
        transformer: ``CosmosTransformer3DModel`` (``concat_padding_mask=True``, patch (1, 2, 2)).
        latents: (B, 16, T, h, w) noisy latents in the transformer dtype.
        condition_mask: (B, 1, T, h, w), 1 on condition frames.
        timestep: (B, 1, T, 1, 1) float32 per-frame σ.
        padding_mask: (1, 1, H, W) pixel-resolution padding mask (zeros).

    Returns:
        :class:`EmbeddedInputs`.
    """
    batch, _, frames, height, width = latents.shape
    hidden = torch.cat([latents, condition_mask], dim=1)
    resized = F.interpolate(padding_mask, size=(height, width), mode="nearest")
    hidden = torch.cat([hidden, resized.unsqueeze(2).repeat(batch, 1, frames, 1, 1)], dim=1)
    rope = transformer.rope(hidden, fps=None)
    p_t, p_h, p_w = transformer.config.patch_size
    grid = (frames // p_t, height // p_h, width // p_w)
    hidden = transformer.patch_embed(hidden).flatten(1, 3)
    temb, embedded = transformer.time_embed(hidden, timestep.flatten())
    temb, embedded = (
        x.view(batch, grid[0], 1, 1, -1).expand(-1, -1, grid[1], grid[2], -1).flatten(1, 3)
        for x in (temb, embedded)
    )
    return EmbeddedInputs(hidden, embedded, temb, rope, grid)


def project_context(transformer, prompt_embeds: torch.Tensor) -> torch.Tensor:
    """``crossattn_proj`` of the prompt embeddings: (B, L, layers·width) → (B, L, text_embed_dim)."""
    return transformer.crossattn_proj(prompt_embeds)


def block_context_kv(attn, context: torch.Tensor, num_query_heads_dim: int) -> BlockKV:
    """K/V of one block's cross-attention, exactly as ``CosmosAttnProcessor2_0`` builds them.

    Args:
        attn: the block's ``attn2``.
        context: (B, L, text_embed_dim) projected prompt.
        num_query_heads_dim: the query's head dim (for the processor's GQA ``repeat_interleave``).

    Returns:
        (K, V), each (B, heads, L, head_dim), contiguous.
    """
    key = attn.norm_k(attn.to_k(context).unflatten(2, (attn.heads, -1)).transpose(1, 2))
    value = attn.to_v(context).unflatten(2, (attn.heads, -1)).transpose(1, 2)
    key = key.repeat_interleave(num_query_heads_dim // key.size(3), dim=3)
    value = value.repeat_interleave(num_query_heads_dim // value.size(3), dim=3)
    return key, value


def prompt_context_kv(transformer, prompt_embeds: torch.Tensor, num_blocks: int) -> list[BlockKV]:
    """Cross-attention K/V of the first ``num_blocks`` blocks for a prompt (cacheable per prompt)."""
    context = project_context(transformer, prompt_embeds)
    head_dim = transformer.config.attention_head_dim
    return [
        block_context_kv(blk.attn2, context, head_dim) for blk in transformer.transformer_blocks[:num_blocks]
    ]


def _cross_attention(attn, hidden: torch.Tensor, kv: BlockKV) -> torch.Tensor:
    query = attn.norm_q(attn.to_q(hidden).unflatten(2, (attn.heads, -1)).transpose(1, 2))
    key, value = kv
    out = dispatch_attention_fn(
        query.transpose(1, 2),
        key.transpose(1, 2),
        value.transpose(1, 2),
        attn_mask=None,
        dropout_p=0.0,
        is_causal=False,
    )
    out = out.flatten(2, 3).type_as(query)
    return attn.to_out[1](attn.to_out[0](out))


def run_block(block, hidden: torch.Tensor, inputs: EmbeddedInputs, kv: BlockKV) -> torch.Tensor:
    """``CosmosTransformerBlock.forward`` with precomputed cross-attention K/V (no pos-emb/controlnet)."""
    normed, gate = block.norm1(hidden, inputs.embedded_timestep, inputs.temb)
    hidden = hidden + gate * block.attn1(normed, image_rotary_emb=inputs.rope)
    normed, gate = block.norm2(hidden, inputs.embedded_timestep, inputs.temb)
    hidden = hidden + gate * _cross_attention(block.attn2, normed, kv)
    normed, gate = block.norm3(hidden, inputs.embedded_timestep, inputs.temb)
    return hidden + gate * block.ff(normed)


def extract_features(
    transformer, inputs: EmbeddedInputs, context_kv: list[BlockKV], block_index: int
) -> torch.Tensor:
    """Run blocks 0..k only and return the block-k output (no later blocks, no output layer).

    Args:
        transformer: the video DiT.
        inputs: :func:`embed_inputs`.
        context_kv: :func:`prompt_context_kv` with at least k + 1 entries, batch-matched.
        block_index: k (17 for Cosmos-Predict2.5-2B).

    Returns:
        (B, S, D) residual stream after block k.
    """
    hidden = inputs.hidden
    for index in range(block_index + 1):
        hidden = run_block(transformer.transformer_blocks[index], hidden, inputs, context_kv[index])
    return hidden


def full_forward(
    transformer, inputs: EmbeddedInputs, prompt_embeds: torch.Tensor, checkpoint: bool = False
) -> torch.Tensor:
    """All blocks + output layer + unpatchify (diffusers forward steps 5-8).

    Args:
        transformer: the video DiT.
        inputs: :func:`embed_inputs`.
        prompt_embeds: (B, L, layers·width) prompt embeddings.
        checkpoint: recompute each block's activations in the backward pass (activation
            checkpointing; same values, less memory) when autograd is on.

    Returns:
        (B, 16, T, h, w) predicted velocity.
    """
    from torch.utils.checkpoint import checkpoint as recompute

    context_kv = prompt_context_kv(transformer, prompt_embeds, len(transformer.transformer_blocks))
    hidden = inputs.hidden
    for block, kv in zip(transformer.transformer_blocks, context_kv, strict=True):
        if checkpoint and torch.is_grad_enabled():
            hidden = recompute(run_block, block, hidden, inputs, kv, use_reentrant=False)
        else:
            hidden = run_block(block, hidden, inputs, kv)
    hidden = transformer.norm_out(hidden, inputs.embedded_timestep, inputs.temb)
    hidden = transformer.proj_out(hidden)
    p_t, p_h, p_w = transformer.config.patch_size
    hidden = hidden.unflatten(2, (p_h, p_w, p_t, -1)).unflatten(1, inputs.grid)
    hidden = hidden.permute(0, 7, 1, 6, 2, 4, 3, 5)
    return hidden.flatten(6, 7).flatten(4, 5).flatten(2, 3)


__all__ = [
    "BlockKV",
    "EmbeddedInputs",
    "block_context_kv",
    "embed_inputs",
    "extract_features",
    "full_forward",
    "project_context",
    "prompt_context_kv",
    "run_block",
]
