"""Flow-matching action head: GR00T-N1-style DiT conditioned on the video DiT's block-k features.

Structure exactly as the authors' ``ActionDiT.py`` / ``cross_attention_dit.py`` (model_spec §4),
with the same module names so their checkpoints map one-to-one:

* ``model``: DiT-B — ``timestep_encoder`` (diffusers ``Timesteps(256, flip_sin_to_cos, shift 1)`` →
  ``TimestepEmbedding(256→D)``), 16 ``transformer_blocks`` (even index: cross-attention to the video
  features, K/V = ``Linear(2048→D, bias)``; odd: self-attention; no masks, no positional embedding
  inside blocks), ``norm_out`` + ``proj_out_1`` (shift, scale — shift first) + ``proj_out_2``.
* block: ``AdaLayerNorm`` (LN eps 1e-5 no affine, (scale, shift) = Linear(SiLU(temb)) — scale
  first) → attention (diffusers ``Attention``, dropout on ``to_out``) → ``final_dropout`` →
  residual; LN → FF (``Linear → GELU-tanh → Dropout → Linear → Dropout``) → residual.
* ``state_encoder`` MLP(state→2560→D, ReLU): one state token; ``action_encoder``
  (``layer1`` A→D, sinusoid(t_disc) D, ``layer2`` 2D→D, swish, ``layer3`` D→D);
  ``position_embedding`` (1024×D, N(0, 0.02)) on action tokens only; ``action_decoder``
  MLP(2560→2560→A) over all 1 + H outputs, last H kept. Sequence = [state, actions]: no
  learnable future tokens (the paper has them, the code does not; model_spec §7.2).

Training: τ = Beta(1.5, 1)/0.999 with τ = 1 = noise, batch tiled 4×, masked MSE on ε − a
(§4). Inference: 4 Euler steps at τ = 1, .75, .5, .25. Unlike the authors' code, the video
features are projected to each cross block's K/V **once per chunk** and reused over the Euler
steps (:meth:`ActionHead.project_video`); the result is identical because the same linears run on
the same tensor. The head always runs in fp32 (the authors' ``autocast(float32)``).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from diffusers.models.attention import FeedForward
from diffusers.models.attention_processor import Attention
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from torch import nn

from dit4dit_policy.model import flow_matching as fm
from dit4dit_policy.model.config import ActionDiTConfig

#: Per cross-attention block: (K, V), each (B, heads, S, head_dim) float32.
VideoKV = list[tuple[torch.Tensor, torch.Tensor]]


def full_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """Disable autocast around the action head (the authors' ``autocast(dtype=float32)``).

    Its matmuls then stay fp32 even inside a bf16 autocast region of a trainer.
    """
    if device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def _heads(attn: Attention, x: torch.Tensor) -> torch.Tensor:
    """(B, N, heads·hd) → (B, heads, N, hd), as diffusers' ``AttnProcessor2_0``."""
    batch = x.shape[0]
    return x.view(batch, -1, attn.heads, x.shape[-1] // attn.heads).transpose(1, 2)


def project_kv(attn: Attention, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """K and V of ``context`` (B, S, C) for one attention layer: each (B, heads, S, hd)."""
    return _heads(attn, attn.to_k(context)), _heads(attn, attn.to_v(context))


def attention(
    attn: Attention,
    hidden: torch.Tensor,
    context: torch.Tensor | None = None,
    kv: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Multi-head attention with ``attn``'s weights, op for op as diffusers' ``AttnProcessor2_0``.

    Args:
        attn: diffusers ``Attention`` (no QK norm, no masks).
        hidden: (B, N, D) queries (and keys/values for self-attention).
        context: (B, S, C) keys/values source for cross-attention, or None.
        kv: precomputed :func:`project_kv` of the context (takes precedence over ``context``).

    Returns:
        (B, N, D) after ``to_out`` (linear + dropout).
    """
    query = _heads(attn, attn.to_q(hidden))
    if kv is None:
        kv = project_kv(attn, hidden if context is None else context)
    key, value = kv
    out = F.scaled_dot_product_attention(query, key, value, dropout_p=0.0, is_causal=False)
    out = out.transpose(1, 2).reshape(hidden.shape[0], -1, attn.heads * query.shape[-1]).to(query.dtype)
    return attn.to_out[1](attn.to_out[0](out))


class TimestepEncoder(nn.Module):
    """Discretised τ (B,) int → (B, D) embedding (``cross_attention_dit.py:31-41``)."""

    def __init__(self, embedding_dim: int) -> None:
        super().__init__()
        self.time_proj = Timesteps(num_channels=256, flip_sin_to_cos=True, downscale_freq_shift=1)
        self.timestep_embedder = TimestepEmbedding(in_channels=256, time_embed_dim=embedding_dim)

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        """(B,) int64 → (B, D)."""
        dtype = self.timestep_embedder.linear_1.weight.dtype
        return self.timestep_embedder(self.time_proj(timesteps).to(dtype))


class AdaLayerNorm(nn.Module):
    """``LN(x)·(1 + scale) + shift`` with (scale, shift) = Linear(SiLU(temb)) — scale first."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.silu = nn.SiLU()
        self.linear = nn.Linear(dim, 2 * dim)
        self.norm = nn.LayerNorm(dim, eps, elementwise_affine=False)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """Map x (B, N, D) and temb (B, D) to (B, N, D)."""
        scale, shift = self.linear(self.silu(temb)).chunk(2, dim=1)
        return self.norm(x) * (1 + scale[:, None]) + shift[:, None]


class BasicTransformerBlock(nn.Module):
    """One DiT block: AdaLN → (cross- or self-) attention → residual → LN → FF → residual."""

    def __init__(self, dim: int, heads: int, head_dim: int, dropout: float, cross_attention_dim: int | None):
        super().__init__()
        self.is_cross = cross_attention_dim is not None
        self.norm1 = AdaLayerNorm(dim)
        self.attn1 = Attention(
            query_dim=dim,
            heads=heads,
            dim_head=head_dim,
            dropout=dropout,
            bias=True,
            cross_attention_dim=cross_attention_dim,
            out_bias=True,
        )
        self.norm3 = nn.LayerNorm(dim, 1e-5, elementwise_affine=False)
        self.ff = FeedForward(
            dim, dropout=dropout, activation_fn="gelu-approximate", final_dropout=True, bias=True
        )
        self.final_dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        temb: torch.Tensor,
        context: torch.Tensor | None = None,
        kv: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Map x (B, N, D); cross blocks take the video ``context`` (B, S, C) or its precomputed ``kv``."""
        attn_out = attention(self.attn1, self.norm1(x, temb), context if self.is_cross else None, kv)
        x = self.final_dropout(attn_out) + x
        return self.ff(self.norm3(x)) + x


class DiT(nn.Module):
    """The 16-block DiT (names as ``cross_attention_dit.DiT``)."""

    def __init__(self, cfg: ActionDiTConfig, cross_attention_dim: int) -> None:
        super().__init__()
        dim = cfg.input_embedding_dim
        self.timestep_encoder = TimestepEncoder(dim)
        self.transformer_blocks = nn.ModuleList(
            BasicTransformerBlock(
                dim,
                cfg.num_attention_heads,
                cfg.attention_head_dim,
                cfg.dropout,
                cross_attention_dim if idx % 2 == 0 else None,
            )
            for idx in range(cfg.num_layers)
        )
        self.norm_out = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.proj_out_1 = nn.Linear(dim, 2 * dim)
        self.proj_out_2 = nn.Linear(dim, cfg.output_dim)

    def cross_blocks(self) -> list[BasicTransformerBlock]:
        """The cross-attention blocks (even indices), in order."""
        return [b for b in self.transformer_blocks if b.is_cross]

    def forward(
        self,
        hidden: torch.Tensor,
        timestep: torch.Tensor,
        context: torch.Tensor | None = None,
        video_kv: VideoKV | None = None,
    ) -> torch.Tensor:
        """Map hidden (B, N, D), timestep (B,) and ``context`` (B, S, C) or ``video_kv`` to (B, N, out)."""
        temb = self.timestep_encoder(timestep)
        cross_index = 0
        for block in self.transformer_blocks:
            kv = None
            if block.is_cross and video_kv is not None:
                kv = video_kv[cross_index]
            cross_index += int(block.is_cross)
            hidden = block(hidden, temb, context, kv)
        shift, scale = self.proj_out_1(F.silu(temb)).chunk(2, dim=1)
        return self.proj_out_2(self.norm_out(hidden) * (1 + scale[:, None]) + shift[:, None])


class MLP(nn.Module):
    """``layer2(ReLU(layer1(x)))``."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int) -> None:
        super().__init__()
        self.layer1 = nn.Linear(input_dim, hidden_dim)
        self.layer2 = nn.Linear(hidden_dim, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) → (..., out)."""
        return self.layer2(F.relu(self.layer1(x)))


def sinusoidal_encoding(timesteps: torch.Tensor, dim: int) -> torch.Tensor:
    """GR00T action-time encoding: (B, T) → (B, T, dim) = [sin | cos] of τ_disc·e^(−i·ln(1e4)/(dim/2))."""
    half = dim // 2
    exponent = -torch.arange(half, dtype=torch.float, device=timesteps.device) * (
        torch.log(torch.tensor(10000.0)) / half
    )
    freqs = timesteps.float().unsqueeze(-1) * exponent.exp()
    return torch.cat([torch.sin(freqs), torch.cos(freqs)], dim=-1)


class ActionEncoder(nn.Module):
    """Noisy actions (B, H, A) + τ_disc (B,) → action tokens (B, H, D) (``ActionDiT.py:64-105``)."""

    def __init__(self, action_dim: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.layer1 = nn.Linear(action_dim, hidden_size)
        self.layer2 = nn.Linear(2 * hidden_size, hidden_size)
        self.layer3 = nn.Linear(hidden_size, hidden_size)

    def forward(self, actions: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Map actions (B, H, A) and timesteps (B,) int64 to tokens (B, H, D)."""
        horizon = actions.shape[1]
        a_emb = self.layer1(actions)
        tau_emb = sinusoidal_encoding(timesteps.unsqueeze(1).expand(-1, horizon), self.hidden_size)
        x = torch.cat([a_emb, tau_emb.to(a_emb.dtype)], dim=-1)
        x = self.layer2(x)
        return self.layer3(x * torch.sigmoid(x))


class ActionHead(nn.Module):
    """The whole action head (the authors' ``FlowmatchingActionHead``; prefix ``action_model.``).

    Args:
        cfg: action head config.
        action_dim: padded model action dim A (32).
        state_dim: padded model state dim (64).
        horizon: chunk length H (16).
        feature_dim: width of the video features (2048 = the video DiT's D).
    """

    def __init__(self, cfg: ActionDiTConfig, action_dim: int, state_dim: int, horizon: int, feature_dim: int):
        super().__init__()
        self.cfg = cfg
        self.action_dim = action_dim
        self.horizon = horizon
        dim = cfg.input_embedding_dim
        self.model = DiT(cfg, feature_dim)
        self.state_encoder = MLP(state_dim, cfg.hidden_size, dim)
        self.action_encoder = ActionEncoder(action_dim, dim)
        self.action_decoder = MLP(cfg.output_dim, cfg.hidden_size, action_dim)
        self.position_embedding = nn.Embedding(cfg.max_seq_len, dim)
        nn.init.normal_(self.position_embedding.weight, mean=0.0, std=0.02)

    def project_video(self, features: torch.Tensor) -> VideoKV:
        """K/V of the video features for every cross block, computed once per chunk.

        Args:
            features: (B, S, feature_dim) block-k video features (any float dtype; cast to fp32).

        Returns:
            one (K, V) pair per cross block, each (B, heads, S, head_dim) float32.
        """
        features = features.float()
        return [project_kv(block.attn1, features) for block in self.model.cross_blocks()]

    def velocity(
        self,
        noisy_actions: torch.Tensor,
        timestep: torch.Tensor,
        state_tokens: torch.Tensor,
        features: torch.Tensor | None = None,
        video_kv: VideoKV | None = None,
    ) -> torch.Tensor:
        """Predicted velocity ε − a at the given discretised time.

        Args:
            noisy_actions: (B, H, A) float32 x_τ.
            timestep: (B,) int64 τ_disc.
            state_tokens: (B, 1, D) output of ``state_encoder``.
            features: (B, S, feature_dim) video features (used when ``video_kv`` is None).
            video_kv: precomputed :meth:`project_video`.

        Returns:
            (B, H, A) float32.
        """
        tokens = self.action_encoder(noisy_actions, timestep)
        positions = torch.arange(tokens.shape[1], dtype=torch.long, device=tokens.device)
        tokens = tokens + self.position_embedding(positions).unsqueeze(0)
        sequence = torch.cat([state_tokens, tokens], dim=1)
        context = None if features is None else features.float()
        out = self.action_decoder(self.model(sequence, timestep, context, video_kv))
        return out[:, -noisy_actions.shape[1] :]

    def loss(
        self, features: torch.Tensor, actions: torch.Tensor, action_mask: torch.Tensor, state: torch.Tensor
    ) -> torch.Tensor:
        """Flow-matching loss with the authors' 4× batch tiling (model_spec §4 "Repeats", "Loss").

        Args:
            features: (B, S, feature_dim) detached video features.
            actions: (B, H, A) float32 normalised, padded actions.
            action_mask: (B, H, A) bool loss mask.
            state: (B, state_dim) float32 sin/cos state.

        Returns:
            scalar float32 ``Σ(v̂ − (ε − a))²·mask / Σ mask``.
        """
        reps = self.cfg.repeated_diffusion_steps
        # K/V are projected once on B and tiled (the authors project the tiled features: same values).
        video_kv = [
            (k.repeat(reps, 1, 1, 1), v.repeat(reps, 1, 1, 1)) for k, v in self.project_video(features)
        ]
        actions = actions.float().repeat(reps, 1, 1)
        mask = action_mask.repeat(reps, 1, 1)
        state_tokens = self.state_encoder(state.float().unsqueeze(1)).repeat(reps, 1, 1)
        noise = torch.randn_like(actions)
        tau = fm.sample_action_time(
            actions.shape[0],
            alpha=self.cfg.noise_beta_alpha,
            beta=self.cfg.noise_beta_beta,
            noise_s=self.cfg.noise_s,
            device=actions.device,
        )
        noisy = fm.interpolate(actions, noise, tau[:, None, None])
        timestep = fm.discretize_time(tau, self.cfg.num_timestep_buckets)
        pred = self.velocity(noisy, timestep, state_tokens, video_kv=video_kv)
        return fm.masked_mse(pred, fm.velocity_target(actions, noise), mask)

    def sample(
        self, features: torch.Tensor, state: torch.Tensor, noise: torch.Tensor, reuse_kv: bool = True
    ) -> torch.Tensor:
        """Euler-integrate a chunk from noise (model_spec §4 "Inference").

        Args:
            features: (B, S, feature_dim) video features.
            state: (B, state_dim) sin/cos state.
            noise: (B, H, A) initial N(0, I) sample.
            reuse_kv: project the video K/V once (True) or in every step like the authors (False).

        Returns:
            (B, H, A) float32 normalised actions.
        """
        state_tokens = self.state_encoder(state.float().unsqueeze(1))
        video_kv = self.project_video(features) if reuse_kv else None
        batch = noise.shape[0]

        def velocity(x: torch.Tensor, _tau: float, tau_disc: int) -> torch.Tensor:
            timestep = torch.full((batch,), tau_disc, device=x.device, dtype=torch.long)
            if video_kv is None:
                return self.velocity(x, timestep, state_tokens, features=features)
            return self.velocity(x, timestep, state_tokens, video_kv=video_kv)

        return fm.euler_integrate(
            velocity, noise.float(), self.cfg.num_inference_timesteps, self.cfg.num_timestep_buckets
        )


__all__ = ["ActionHead", "VideoKV", "attention", "full_precision", "project_kv", "sinusoidal_encoding"]
