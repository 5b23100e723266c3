"""Video backbone: Wan2.1 VAE + Cosmos-Predict2.5 video DiT, feature extraction and the video loss.

Conventions (model_spec §1-3, §9):

* Latents are normalised per channel as ``(x − μ)/σ`` with ``vae.config.latents_mean/std``. (The
  authors read ``pipe.latents_std``, which diffusers ≥ 0.39 stores inverted: model_spec §7.5.)
* Condition latent: the VAE's Gaussian of the **current frame only**, drawn as mean + std·ε
  (the authors call ``latent_dist.sample()``; ``vae.cond_latent: mean`` selects the mean). The
  authors encode the frame zero-padded to the clip length (e.g. 1 + 8 zero frames) and keep latent
  0; the Wan VAE is causal, so latent 0 depends on pixel frame 0 only and the one-frame encode is
  identical at ~1/9 of the cost (tested). In training, the condition latent is latent 0 of the
  ground-truth clip encode for the same reason (the authors run a separate padded encode). The
  draw mean + std·ε is computed in the VAE dtype, as diffusers' ``latent_dist.sample()`` does, and
  only then cast to fp32 (``Cosmos25.py`` ``prepare_latents``: ``torch.cat(...).to(float32)``).
* Feature extraction: latent frame 0 = condition at timestep 1e-4 with condition-mask 1, future
  latent frames = pure N(0, I) at τ_f = UniPC(σ_max = 200).sigmas[0] = 200/201 (§2), blocks
  0..k only, output (B, S, D) detached — the action loss never reaches the video DiT (§7.1).
* Video loss: per-sample τ_v, ``x_τ = (1 − τ)·x₀ + τ·z`` on the future latents (x₀ = the clip
  encode's **mean**), condition frame pinned at 1e-4, target ``z − x₀``, plain MSE over the future
  frames (§3).
* Timestep precision (authors' code, ``Cosmos25.py:630-646``; §1.3): they cast the future frames'
  σ to the transformer dtype (``sigma_t = torch.tensor(sigmas[i]).to(dtype=transformer_dtype)``; in
  the video loss ``t_B1T11.to(dtype=transformer_dtype)``) and then mix it with the fp32 condition
  timestep (``cond_indicator·cond_timestep + (1 − cond_indicator)·σ`` — ``cond_indicator`` comes
  from ``prepare_latents(dtype=float32)``), so the transformer receives an fp32 tensor holding
  **1e-4 exactly (fp32) on the condition frame and dtype-rounded σ on the future frames**. With a
  bf16 DiT (GPU default) τ_f is therefore bf16(200/201) = 0.99609375, not 0.995025, and τ_v is
  rounded to bf16 in the loss's timestep (the interpolant ``x_τ`` still uses the fp32 τ_v, as
  theirs does). We round the same way, so our path and :mod:`~dit4dit_policy.model.reference`
  feed identical timesteps; in fp32 nothing changes.
"""

from __future__ import annotations

import functools
import warnings

import torch
from torch import nn

from dit4dit_policy.model import cosmos_forward as cf
from dit4dit_policy.model import flow_matching as fm
from dit4dit_policy.model.config import ModelConfig


@functools.lru_cache(maxsize=8)
def feature_timestep(sigma_max: float = 200.0, sigma_min: float = 0.01) -> float:
    """τ_f: ``sigmas[0]`` of diffusers' 1-step karras flow UniPC schedule (= σ_max/(1+σ_max); §2).

    Scheduler settings are those of Cosmos-Predict2.5 (model_spec §1.1): ``use_karras_sigmas``,
    ``use_flow_sigmas``, ``flow_prediction``.
    """
    from diffusers import UniPCMultistepScheduler

    # CPU device context: also correct when a caller builds modules under a meta-device context.
    # diffusers' scheduler init trips a NumPy-2 DeprecationWarning (np.array on a tensor); not ours.
    with torch.device("cpu"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scheduler = UniPCMultistepScheduler(
            use_karras_sigmas=True,
            use_flow_sigmas=True,
            prediction_type="flow_prediction",
            sigma_max=sigma_max,
            sigma_min=sigma_min,
        )
        scheduler.set_timesteps(1)
    return float(scheduler.sigmas[0])


class VideoBackbone(nn.Module):
    """The Cosmos video DiT (trainable) and the Wan VAE (frozen).

    Args:
        transformer: diffusers ``CosmosTransformer3DModel`` (in_channels 17, padding mask, crossattn proj).
        vae: diffusers ``AutoencoderKLWan`` (z_dim 16).
        cfg: model config (extraction block, timesteps, loss options).
    """

    def __init__(self, transformer: nn.Module, vae: nn.Module, cfg: ModelConfig) -> None:
        super().__init__()
        self.transformer = transformer
        self.vae = vae
        self.vae.requires_grad_(False)
        mean, std = self._latent_stats()
        self.register_buffer("latents_mean", mean, persistent=False)
        self.register_buffer("latents_std", std, persistent=False)
        self.extract_layer = cfg.video.extract_layer
        self.cond_timestep = cfg.video.conditional_frame_timestep
        self.tau_f = feature_timestep(cfg.video.sigma_max, cfg.video.sigma_min)
        self.cond_latent_mode = cfg.vae.cond_latent
        self.loss_cfg = cfg.video_loss
        self.image_size = (cfg.image_size[0], cfg.image_size[1])
        self.gradient_checkpointing = False

    def _latent_stats(self, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, int(self.vae.config.z_dim), 1, 1, 1)
        mean = torch.tensor(self.vae.config.latents_mean, dtype=torch.float32, device=device).view(shape)
        std = torch.tensor(self.vae.config.latents_std, dtype=torch.float32, device=device).view(shape)
        return mean, std

    def materialize_buffers(self) -> None:
        """Recreate the (non-persistent) latent statistics on the VAE's device after a meta-device build."""
        device = self.vae.encoder.conv_in.weight.device
        self.latents_mean, self.latents_std = self._latent_stats(device)

    def train(self, mode: bool = True) -> VideoBackbone:
        """Train/eval mode for the transformer; the frozen VAE always stays in eval mode."""
        super().train(mode)
        self.vae.eval()
        return self

    @property
    def dtype(self) -> torch.dtype:
        """Compute dtype of the transformer (bf16 on GPU, fp32 on CPU)."""
        return self.transformer.proj_out.weight.dtype

    # -- latents ------------------------------------------------------------------------------

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """VAE posterior of a clip.

        Args:
            video: (B, 3, T, H, W) in [-1, 1].

        Returns:
            (mean, std), each (B, 16, (T−1)//4 + 1, H/8, W/8) float32, **not** normalised.
        """
        vae_dtype = self.vae.encoder.conv_in.weight.dtype
        dist = self.vae.encode(video.to(vae_dtype)).latent_dist
        return dist.mean.float(), dist.std.float()

    def normalize(self, latents: torch.Tensor) -> torch.Tensor:
        """``(x − μ)/σ`` per channel with ``vae.config.latents_mean/std`` (float32)."""
        return (latents.float() - self.latents_mean) / self.latents_std

    def condition_latent(
        self, mean: torch.Tensor, std: torch.Tensor, eps: torch.Tensor | None
    ) -> torch.Tensor:
        """Normalised condition latent from latent frame 0's posterior.

        Args:
            mean: (B, 16, ≥1, h, w) posterior mean (float32 holding VAE-dtype values); frame 0 is used.
            std: posterior standard deviation, same shape.
            eps: (B, 16, 1, h, w) N(0, I) noise for ``cond_latent: sample`` (ignored for ``mean``).

        Returns:
            (B, 16, 1, h, w) float32.
        """
        latent = mean[:, :, :1]
        if self.cond_latent_mode == "sample":
            if eps is None:
                raise ValueError("cond_latent 'sample' needs eps of shape (B, 16, 1, h, w)")
            # diffusers' ``latent_dist.sample()`` computes mean + std·ε in the VAE dtype (bf16 on GPU).
            vae_dtype = self.vae.encoder.conv_in.weight.dtype
            latent = (latent.to(vae_dtype) + std[:, :, :1].to(vae_dtype) * eps.to(vae_dtype)).float()
        return self.normalize(latent)

    def encode_condition(self, frame: torch.Tensor, eps: torch.Tensor | None) -> torch.Tensor:
        """Condition latent of the current frame with a one-frame VAE encode.

        Args:
            frame: (B, 3, H, W) in [-1, 1].
            eps: (B, 16, 1, H/8, W/8) noise (see :meth:`condition_latent`).

        Returns:
            (B, 16, 1, H/8, W/8) float32 normalised.
        """
        mean, std = self.encode(frame.unsqueeze(2))
        return self.condition_latent(mean, std, eps)

    # -- transformer inputs --------------------------------------------------------------------

    def _inputs(
        self, cond: torch.Tensor, future: torch.Tensor, future_tau: torch.Tensor
    ) -> cf.EmbeddedInputs:
        """Embed [condition | future] latents with per-frame timesteps [1e-4 | τ in the DiT dtype]."""
        batch, _, frames_future, h, w = future.shape
        frames = 1 + frames_future
        latents = torch.cat([cond, future.to(cond.dtype)], dim=2).to(self.dtype)
        condition_mask = torch.zeros(batch, 1, frames, h, w, dtype=self.dtype, device=cond.device)
        condition_mask[:, :, 0] = 1
        # The authors cast σ (and τ_v) to the transformer dtype before mixing it with the fp32
        # condition timestep; the result is fp32 again (see the module docstring).
        timestep = torch.empty(batch, 1, frames, 1, 1, dtype=torch.float32, device=cond.device)
        timestep[:, :, 0] = self.cond_timestep
        timestep[:, :, 1:] = future_tau.to(self.dtype).float().view(batch, 1, 1, 1, 1)
        padding_mask = torch.zeros(1, 1, 8 * h, 8 * w, dtype=self.dtype, device=cond.device)
        return cf.embed_inputs(self.transformer, latents, condition_mask, timestep, padding_mask)

    def context_kv(self, prompt_embeds: torch.Tensor) -> list[cf.BlockKV]:
        """Cross-attention K/V of blocks 0..k for prompt embeddings (B, L, layers·width)."""
        return cf.prompt_context_kv(self.transformer, prompt_embeds.to(self.dtype), self.extract_layer + 1)

    @torch.no_grad()
    def extract(self, cond: torch.Tensor, noise: torch.Tensor, context_kv: list[cf.BlockKV]) -> torch.Tensor:
        """Block-k features at τ_f (model_spec §2).

        Args:
            cond: (B, 16, 1, h, w) normalised condition latent.
            noise: (B, 16, T−1, h, w) N(0, I) future latents.
            context_kv: :meth:`context_kv` of the batch's prompts.

        Returns:
            (B, S, D) detached, S = T·(h/2)·(w/2), in the transformer dtype.
        """
        tau = torch.full((cond.shape[0],), self.tau_f, dtype=torch.float32, device=cond.device)
        inputs = self._inputs(cond, noise, tau)
        return cf.extract_features(self.transformer, inputs, context_kv, self.extract_layer).detach()

    def video_loss(self, x0: torch.Tensor, cond: torch.Tensor, prompt_embeds: torch.Tensor) -> torch.Tensor:
        """Flow-matching loss on the future latents (model_spec §3).

        Args:
            x0: (B, 16, T, h, w) normalised clip latents (posterior mean); frames 1.. are supervised.
            cond: (B, 16, 1, h, w) normalised condition latent (pinned at 1e-4).
            prompt_embeds: (B, L, layers·width).

        Returns:
            scalar float32 MSE between predicted and target velocity on frames 1..T−1.
        """
        x0_future = x0[:, :, 1:].float()
        tau = fm.sample_video_time(
            x0.shape[0],
            distribution=self.loss_cfg.time_distribution,
            high_sigma_ratio=self.loss_cfg.high_sigma_ratio,
            high_sigma_min=self.loss_cfg.high_sigma_min,
            device=x0.device,
        )
        z = torch.randn_like(x0_future)
        x_tau = fm.interpolate(x0_future, z, tau.view(-1, 1, 1, 1, 1))
        inputs = self._inputs(cond, x_tau, tau)
        v_pred = cf.full_forward(
            self.transformer, inputs, prompt_embeds.to(self.dtype), checkpoint=self.gradient_checkpointing
        )
        return torch.nn.functional.mse_loss(v_pred[:, :, 1:].float(), fm.velocity_target(x0_future, z))


__all__ = ["VideoBackbone", "feature_timestep"]
