"""The authors' per-step inference path, re-implemented faithfully as a reference (bench and tests).

What ``DiT4DiT.predict_action`` → ``Cosmos25FeatureExtractor.forward`` → ``FlowmatchingActionHead
.predict_action`` does per control step (model_spec §6), on *our* modules so that weights and
noise can be shared with :meth:`DiT4DiTPolicy.sample_model_space`:

1. prompt re-encoded every step with the full ``Qwen2_5_VLForConditionalGeneration`` (LM-head
   logits included) — ``Cosmos25.py:168-215``;
2. the current frame zero-padded in pixel space to the clip length (e.g. 1 + 8 frames) and
   VAE-encoded one sample at a time, ``latent_dist.sample()``, normalised, latent 0 kept
   (``:306-337``);
3. ``cond_mask·cond + (1 − cond_mask)·noise`` with per-frame timesteps
   ``cond_indicator·1e-4 + (1 − cond_indicator)·σ``, diffusers' **full** transformer forward (all
   blocks + output layer) with a forward hook on block k, then the ``gt_velocity`` blend
   (``:560-656``);
4. action head in fp32 with the video K/V re-projected at every Euler step (``ActionDiT.py:321-369``).

One deliberate difference: latents are normalised with ``vae.config.latents_std`` as (x − μ)/σ.
The authors divide by ``pipe.latents_std``, which is σ on diffusers 0.37/0.38 (their pin) but 1/σ
from 0.39 on (model_spec §7.5); we reproduce their intended, pinned behaviour.

diffusers' forward calls ``torchvision.transforms.functional.resize`` on the padding mask; where
torchvision is not importable (this project's CPU image) :func:`torchvision_resize_standin`
installs a nearest-``F.interpolate`` stand-in for the duration of the call (the same operation
torchvision's tensor NEAREST resize performs; the mask is all zeros).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F

from dit4dit_policy.model.action_dit import full_precision
from dit4dit_policy.model.policy import DiT4DiTPolicy, StepNoise
from dit4dit_policy.model.profiling import StageRecorder


class _NearestResize:
    """The subset of ``torchvision.transforms`` diffusers' Cosmos forward uses."""

    class InterpolationMode:
        NEAREST = "nearest"

    class functional:  # mirrors the torchvision module name
        @staticmethod
        def resize(tensor: torch.Tensor, size: list[int], interpolation: str = "nearest") -> torch.Tensor:
            return F.interpolate(tensor, size=tuple(size), mode="nearest")


@contextlib.contextmanager
def torchvision_resize_standin() -> Iterator[None]:
    """Make diffusers' Cosmos forward runnable without torchvision (restored on exit)."""
    import diffusers.models.transformers.transformer_cosmos as cosmos

    if hasattr(cosmos, "transforms"):
        yield
        return
    cosmos.transforms = _NearestResize
    try:
        yield
    finally:
        del cosmos.transforms


def reference_noise(
    policy: DiT4DiTPolicy, noise: StepNoise, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-length noise tensors of the authors' path that agree with ``noise`` where it matters.

    Returns:
        (vae_eps (B, 16, T_lat, h, w) with frame 0 = ``noise.vae_eps``,
        latents (B, 16, T_lat, h, w) with frames 1.. = ``noise.video``); the other entries are
        filler from ``generator`` (the authors draw them too; they are masked out).
    """
    shape = noise.vae_eps.shape
    filler_eps = torch.randn(
        shape[0], shape[1], policy.config.num_latent_frames - 1, *shape[3:], generator=generator
    )
    filler_latent = torch.randn(*shape, generator=generator)
    vae_eps = torch.cat([noise.vae_eps, filler_eps.to(noise.vae_eps.device)], dim=2)
    latents = torch.cat([filler_latent.to(noise.video.device), noise.video], dim=2)
    return vae_eps, latents


@torch.no_grad()
def reference_sample(
    policy: DiT4DiTPolicy,
    frame: torch.Tensor,
    state: torch.Tensor,
    tasks: Sequence[str],
    vae_eps: torch.Tensor,
    latents: torch.Tensor,
    action_noise: torch.Tensor,
    recorder: StageRecorder | None = None,
) -> torch.Tensor:
    """The authors' per-step path (see module docstring).

    Args:
        policy: supplies the modules (weights shared with our path).
        frame: (B, 3, H, W) current frame in [-1, 1].
        state: (B, state_dim) sin/cos state.
        tasks: B instructions.
        vae_eps: (B, 16, T_lat, h, w) ε of ``latent_dist.sample()``.
        latents: (B, 16, T_lat, h, w) initial noise latents.
        action_noise: (B, H, A) initial action sample.
        recorder: per-stage timings/FLOPs.

    Returns:
        (B, H, A) float32 normalised actions.
    """
    rec = recorder or StageRecorder(policy.device)
    backbone, transformer, vae = policy.backbone, policy.backbone.transformer, policy.backbone.vae
    dtype, device = backbone.dtype, policy.device
    batch = frame.shape[0]
    with rec.stage("text"):
        text = policy.text_encoder.to(device, dtype)
        prompt_embeds = text.encode_reference(list(tasks)).to(dtype=text.dtype)
    with rec.stage("vae"):
        video = frame.to(device=device, dtype=vae.encoder.conv_in.weight.dtype).unsqueeze(2)
        pad = torch.zeros(
            batch, 3, policy.config.num_pixel_frames - 1, *video.shape[3:], dtype=video.dtype, device=device
        )
        padded = torch.cat([video, pad], dim=2)
        samples = []
        for i in range(batch):
            dist = vae.encode(padded[i : i + 1]).latent_dist
            samples.append(dist.mean + dist.std * vae_eps[i : i + 1].to(dist.mean.dtype))
        cond_latents = (torch.cat(samples).to(torch.float32) - backbone.latents_mean) / backbone.latents_std
    with rec.stage("video_dit"):
        frames = cond_latents.shape[2]
        cond_indicator = torch.zeros(batch, 1, frames, 1, 1, device=device)
        cond_indicator[:, :, 0] = 1.0
        cond_mask = (cond_indicator * torch.ones_like(cond_latents[:, :1])).to(dtype)
        cond_timestep = torch.ones_like(cond_indicator) * float(backbone.cond_timestep)
        sigma = torch.tensor(backbone.tau_f).unsqueeze(0).to(device=device, dtype=dtype)
        in_latents = (cond_mask * cond_latents + (1 - cond_mask) * latents.to(device)).to(dtype)
        in_timestep = cond_indicator * cond_timestep + (1 - cond_indicator) * sigma
        padding_mask = torch.zeros(1, 1, frame.shape[-2], frame.shape[-1], dtype=dtype, device=device)
        captured: list[torch.Tensor] = []
        hook = transformer.transformer_blocks[backbone.extract_layer].register_forward_hook(
            lambda _m, _i, out: captured.append(out.detach())
        )
        with torchvision_resize_standin():
            try:
                model_out = transformer(
                    hidden_states=in_latents,
                    condition_mask=cond_mask,
                    timestep=in_timestep,
                    encoder_hidden_states=prompt_embeds,
                    padding_mask=padding_mask,
                    return_dict=False,
                )[0]
            finally:
                hook.remove()
        gt_velocity = (latents.to(device) - cond_latents).to(dtype) * cond_mask
        _ = gt_velocity + model_out * (1 - cond_mask)  # computed and discarded, as in the authors' code
        features = captured[0]
    with rec.stage("action_dit"), full_precision(device):
        actions = policy.action_head.sample(
            features, state.to(device), action_noise.to(device), reuse_kv=False
        )
    return actions


__all__ = ["reference_noise", "reference_sample", "torchvision_resize_standin"]
