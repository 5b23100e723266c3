"""``DiT4DiTPolicy``: the composed video + action model, its loss, and the per-step inference path.

Per control step (DESIGN.md §2, model_spec §6) :meth:`DiT4DiTPolicy.predict_action_chunk` does

1. *preprocess* — ``data.transforms``: resize each view (bilinear) to the model size, [-1, 1],
   side-by-side views; state → per-key sin/cos, zero-padded (the same functions training uses);
2. *text* — prompt embeddings from the cache (LRU → disk → encoder, the last only once per prompt)
   and, in eval mode, the prompt's cross-attention K/V of video blocks 0..k (cached per prompt);
3. *vae* — one-frame VAE encode of the current frame → condition latent;
4. *video_dit* — blocks 0..k at τ_f on [condition | pure-noise future] latents;
5. *action_dit* — video K/V projected once, 4 Euler steps, fp32;
6. *postprocess* — clip + min/max un-normalisation with the checkpoint's statistics.

``last_timings_ms`` holds the milliseconds of each stage of the last call (plus ``total``).
The prediction equals the authors' path (full text encoder, zero-padded 9-frame VAE encode, all 28
blocks with a hook, K/V re-projected per Euler step) given the same weights and noise; see
``model/reference.py`` and ``dit4dit bench policy``.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dit4dit_policy import schema
from dit4dit_policy.data import transforms as T
from dit4dit_policy.data.embodiment import Embodiment
from dit4dit_policy.errors import CheckpointError, SchemaMismatchError
from dit4dit_policy.model.action_dit import ActionHead, full_precision
from dit4dit_policy.model.build import resolve_dtype
from dit4dit_policy.model.config import COSMOS_REVISION, ModelConfig
from dit4dit_policy.model.profiling import StageRecorder
from dit4dit_policy.model.prompt_cache import PromptCache, prompt_key
from dit4dit_policy.model.text_encoder import PromptEncoder
from dit4dit_policy.model.video_backbone import VideoBackbone


@dataclasses.dataclass
class StepNoise:
    """All randomness of one inference call (so two paths can be fed identical noise).

    Attributes:
        vae_eps: (B, 16, 1, h, w) ε of the condition latent draw.
        video: (B, 16, T_lat − 1, h, w) pure-noise future latents.
        action: (B, H, A) initial action sample.
    """

    vae_eps: torch.Tensor
    video: torch.Tensor
    action: torch.Tensor


class DiT4DiTPolicy(nn.Module):
    """Video DiT + action DiT policy (build with ``model.build.build_policy`` or ``load_policy``).

    Submodules: ``backbone`` (``transformer`` trainable, ``vae`` frozen) and ``action_head``. The
    frozen text encoder is a plain attribute (``text_encoder``), loaded only for uncached prompts.

    Args:
        config: resolved model config.
        backbone: video DiT + VAE.
        action_head: flow-matching action head.
        text_encoder: prompt encoder.
        stats: normalisation statistics (required by the predict methods).
        embodiment: key layout of the robot.
        prompt_cache: prompt-embedding cache.
    """

    def __init__(
        self,
        config: ModelConfig,
        backbone: VideoBackbone,
        action_head: ActionHead,
        text_encoder: PromptEncoder,
        *,
        stats: T.NormStats | None,
        embodiment: Embodiment,
        prompt_cache: PromptCache | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.action_head = action_head
        self.text_encoder = text_encoder
        self.stats = stats
        self.embodiment = embodiment
        self.prompt_cache = (
            prompt_cache if prompt_cache is not None else PromptCache(None, config.prompt_cache_size)
        )
        self.revision = COSMOS_REVISION
        self.last_timings_ms: dict[str, float] = {}
        self._context_cache: OrderedDict[str, list[tuple[torch.Tensor, torch.Tensor]]] = OrderedDict()

    # -- placement ----------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        """Device of the action head (= of the whole policy after :meth:`to_device`)."""
        return self.action_head.position_embedding.weight.device

    def to_device(self, device: torch.device | str) -> DiT4DiTPolicy:
        """Move to ``device``: backbone in the config dtype (bf16 on CUDA by default), head in fp32."""
        dtype = resolve_dtype(self.config, device)
        self.backbone.to(device=device, dtype=dtype)
        self.action_head.to(device=device, dtype=torch.float32)
        self.text_encoder.to(device, dtype)
        self._context_cache.clear()
        return self

    def _apply(self, fn, recurse: bool = True):
        self._context_cache.clear()  # cached K/V would stay on the old device/dtype
        return super()._apply(fn, recurse)

    def train(self, mode: bool = True) -> DiT4DiTPolicy:
        """nn.Module semantics; also drops the per-prompt K/V cache (weights may change)."""
        super().train(mode)
        self._context_cache.clear()
        return self

    def set_gradient_checkpointing(self, enabled: bool = True) -> None:
        """Activation checkpointing of the video DiT blocks in the video loss (training memory)."""
        self.backbone.gradient_checkpointing = bool(enabled)

    def parameter_groups(self, lr_backbone: float, lr_action_head: float) -> list[dict[str, Any]]:
        """Optimizer groups (model_spec §5): the video DiT and the action head; frozen parts excluded."""
        return [
            {
                "name": "backbone",
                "params": [p for p in self.backbone.transformer.parameters() if p.requires_grad],
                "lr": lr_backbone,
            },
            {
                "name": "action_head",
                "params": [p for p in self.action_head.parameters() if p.requires_grad],
                "lr": lr_action_head,
            },
        ]

    # -- text ---------------------------------------------------------------------------------

    def prompt_cache_key(self, prompt: str) -> str:
        """Cache key of ``prompt`` under this policy's text encoder."""
        text = self.text_encoder.cfg
        return prompt_key(
            self.text_encoder.encoder_id, self.revision, prompt, text.max_length, text.system_prompt
        )

    def prompt_embeddings(self, tasks: Sequence[str]) -> torch.Tensor:
        """(B, L, layers·width) prompt embeddings in the backbone dtype, via the cache.

        Raises:
            SchemaMismatchError: a task is not a non-empty string.
        """
        for i, task in enumerate(tasks):
            if not isinstance(task, str) or not task.strip():
                raise SchemaMismatchError(f"task[{i}] must be a non-empty instruction string, got {task!r}")
        found: dict[str, torch.Tensor] = {}
        missing = []
        for task in dict.fromkeys(tasks):
            value = self.prompt_cache.get(self.prompt_cache_key(task), task)
            if value is None:
                missing.append(task)
            else:
                found[task] = value
        if missing:
            self.text_encoder.to(self.device, self.backbone.dtype)
            encoded = self.text_encoder.encode(missing)
            for task, value in zip(missing, encoded, strict=True):
                self.prompt_cache.put(self.prompt_cache_key(task), task, value, self.text_encoder.encoder_id)
                found[task] = value
        return torch.stack([found[t] for t in tasks]).to(device=self.device, dtype=self.backbone.dtype)

    def _context_kv(
        self, tasks: Sequence[str], prompt_embeds: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if self.training or torch.is_grad_enabled():
            return self.backbone.context_kv(prompt_embeds)
        per_task = []
        for i, task in enumerate(tasks):
            if task not in self._context_cache:
                self._context_cache[task] = self.backbone.context_kv(prompt_embeds[i : i + 1])
                while len(self._context_cache) > self.config.prompt_cache_size:
                    self._context_cache.popitem(last=False)
            self._context_cache.move_to_end(task)
            per_task.append(self._context_cache[task])
        if len(per_task) == 1:
            return per_task[0]
        return [
            (torch.cat([kv[b][0] for kv in per_task]), torch.cat([kv[b][1] for kv in per_task]))
            for b in range(len(per_task[0]))
        ]

    # -- training -----------------------------------------------------------------------------

    def forward(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Same as :meth:`compute_loss` (so DDP/accelerate wrappers, which hook ``forward``, work)."""
        return self.compute_loss(batch)

    def _check_batch(self, batch: Mapping[str, Any]) -> int:
        cfg = self.config
        for key in ("video", "state", "action", "action_mask", "task"):
            if key not in batch:
                raise SchemaMismatchError(
                    f"training batch lacks '{key}' (expected video, state, action, action_mask, task)"
                )
        video = batch["video"]
        height, width = cfg.image_size
        views = len(self.embodiment.video_keys)
        expected = (cfg.num_pixel_frames, 3, height, width * views)
        if video.ndim != 5 or tuple(video.shape[1:]) != expected:
            raise SchemaMismatchError(
                f"batch['video'] must be (B, {', '.join(map(str, expected))}) in [-1, 1], "
                f"got {tuple(video.shape)}"
            )
        batch_size = video.shape[0]
        shapes = {
            "state": (batch_size, cfg.state_dim),
            "action": (batch_size, cfg.horizon, cfg.action_dim),
            "action_mask": (batch_size, cfg.horizon, cfg.action_dim),
        }
        for key, shape in shapes.items():
            if tuple(batch[key].shape) != shape:
                raise SchemaMismatchError(
                    f"batch['{key}'] must have shape {shape}, got {tuple(batch[key].shape)}"
                )
        if batch["action_mask"].dtype != torch.bool:
            raise SchemaMismatchError(f"batch['action_mask'] must be bool, got {batch['action_mask'].dtype}")
        if len(batch["task"]) != batch_size:
            raise SchemaMismatchError(
                f"batch['task'] must hold {batch_size} strings, got {len(batch['task'])}"
            )
        return batch_size

    def compute_loss(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Joint loss ``action + λ·video`` on a model-space batch (DESIGN.md contract 2).

        Args:
            batch: ``video`` (B, T_pix, 3, H, W·views) float32 [-1, 1], frame 0 current;
                ``state`` (B, state_dim); ``action`` (B, H, action_dim) normalised;
                ``action_mask`` (B, H, action_dim) bool; ``task`` list of B strings.

        Returns:
            scalar float32 tensors ``loss``, ``action_loss``, ``video_loss`` (0 when λ = 0; the video
            forward and the future-frame VAE encode are then skipped). Optional keys
            ``latent_mean`` / ``latent_std`` (B, 16, T_lat, H/8, W·views/8) from :meth:`encode_video`
            replace the (frozen) VAE encode, so a trainer can cache them per sample.

        Raises:
            SchemaMismatchError: a missing key or a wrong shape.
        """
        self._check_batch(batch)
        device = self.device
        weight = self.config.video_loss.weight
        video = batch["video"].to(device).permute(0, 2, 1, 3, 4)  # (B, 3, T, H, W)
        prompt = self.prompt_embeddings(list(batch["task"]))
        if "latent_mean" in batch and "latent_std" in batch:
            mean, std = batch["latent_mean"].to(device).float(), batch["latent_std"].to(device).float()
        else:
            mean, std = self.backbone.encode(video if weight > 0 else video[:, :, :1])
        cond = self.backbone.condition_latent(mean, std, torch.randn_like(mean[:, :, :1]))
        future = self.config.num_latent_frames - 1
        noise = torch.randn(mean.shape[0], mean.shape[1], future, *mean.shape[3:], device=device)
        with torch.no_grad():
            features = self.backbone.extract(cond, noise, self.backbone.context_kv(prompt))
        with full_precision(device):
            action_loss = self.action_head.loss(
                features,
                batch["action"].to(device),
                batch["action_mask"].to(device),
                batch["state"].to(device),
            )
        if weight > 0:
            video_loss = self.backbone.video_loss(self.backbone.normalize(mean), cond, prompt)
        else:
            video_loss = torch.zeros((), device=device)
        return {
            "loss": action_loss + weight * video_loss,
            "action_loss": action_loss,
            "video_loss": video_loss,
        }

    @torch.no_grad()
    def encode_video(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """VAE posterior (mean, std) of a batch clip (B, T_pix, 3, H, W·views) in [-1, 1].

        Returns:
            each (B, 16, T_lat, H/8, W·views/8) float32 (un-normalised), usable as ``latent_mean`` /
            ``latent_std`` in :meth:`compute_loss`.
        """
        return self.backbone.encode(video.to(self.device).permute(0, 2, 1, 3, 4))

    # -- inference ----------------------------------------------------------------------------

    def latent_shape(self) -> tuple[int, int]:
        """(h, w) of the latent grid: H/8, W·views/8."""
        height, width = self.config.image_size
        return height // 8, width * len(self.embodiment.video_keys) // 8

    def draw_noise(self, batch_size: int, seed: int | None = None) -> StepNoise:
        """The noise of one call; with a seed it is drawn on the CPU (same values on every device)."""
        h, w = self.latent_shape()
        shapes = (
            (batch_size, 16, 1, h, w),
            (batch_size, 16, self.config.num_latent_frames - 1, h, w),
            (batch_size, self.config.horizon, self.config.action_dim),
        )
        if seed is None:
            tensors = [torch.randn(s, device=self.device) for s in shapes]
        else:
            generator = torch.Generator().manual_seed(int(seed))
            tensors = [torch.randn(s, generator=generator).to(self.device) for s in shapes]
        return StepNoise(*tensors)

    @torch.no_grad()
    def sample_model_space(
        self,
        frame: torch.Tensor,
        state: torch.Tensor,
        tasks: Sequence[str],
        noise: StepNoise,
        recorder: StageRecorder | None = None,
    ) -> torch.Tensor:
        """Normalised chunk from model-space inputs (stages text, vae, video_dit, action_dit).

        Args:
            frame: (B, 3, H, W·views) current frame in [-1, 1].
            state: (B, state_dim) sin/cos state.
            tasks: B instructions.
            noise: :class:`StepNoise`.
            recorder: per-stage timing/FLOP recorder (a fresh one when None).

        Returns:
            (B, H, action_dim) float32 normalised actions.
        """
        rec = recorder or StageRecorder(self.device)
        with rec.stage("text"):
            prompt = self.prompt_embeddings(tasks)
            context_kv = self._context_kv(tasks, prompt)
        with rec.stage("vae"):
            cond = self.backbone.encode_condition(frame.to(self.device), noise.vae_eps)
        with rec.stage("video_dit"):
            features = self.backbone.extract(cond, noise.video, context_kv)
        with rec.stage("action_dit"), full_precision(self.device):
            actions = self.action_head.sample(features, state.to(self.device), noise.action, reuse_kv=True)
        self.last_timings_ms.update(rec.ms)
        return actions

    def preprocess(self, observation: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """Raw observation → (frame (B, 3, H, W·views), state (B, state_dim), tasks) via ``data.transforms``.

        Raises:
            SchemaMismatchError: missing camera view, wrong state dim, task count mismatch.
        """
        for key in ("images", "state", "task"):
            if key not in observation:
                raise SchemaMismatchError(f"observation lacks '{key}' (expected images, state, task)")
        images = observation["images"]
        missing = [k for k in self.embodiment.video_keys if k not in images]
        if missing:
            raise SchemaMismatchError(
                f"observation['images'] lacks {missing}; expected keys {list(self.embodiment.video_keys)}"
            )
        frame = T.images_to_model([images[k] for k in self.embodiment.video_keys], self.config.image_size)
        state = T.state_to_model(observation["state"], self.embodiment, self.config.state_dim)
        tasks = [observation["task"]] if isinstance(observation["task"], str) else list(observation["task"])
        if frame.ndim != 4 or state.ndim != 2 or not frame.shape[0] == state.shape[0] == len(tasks):
            raise SchemaMismatchError(
                f"batch sizes disagree: images {tuple(frame.shape)}, state {tuple(state.shape)}, "
                f"{len(tasks)} task(s); expected images (B, H, W, 3), state (B, S) and B tasks"
            )
        return frame, state, tasks

    def predict_action_chunk(self, observation: Mapping[str, Any], seed: int | None = None) -> np.ndarray:
        """Predict a chunk of absolute targets in robot units.

        Args:
            observation: ``images`` {video_key: (B, H, W, 3) uint8 RGB}, ``state`` (B, S_raw) raw
                [rad | opening], ``task`` list of B instructions.
            seed: seed for all noise of this call (deterministic output); None draws fresh noise.

        Returns:
            (B, horizon, A_raw) float32 in robot units.

        Raises:
            CheckpointError: the policy has no normalisation statistics.
            SchemaMismatchError / ValueError: malformed observation (see :meth:`preprocess`).
        """
        if self.stats is None:
            raise CheckpointError(
                "policy has no normalisation statistics (stats.json); cannot un-normalise actions"
            )
        rec = StageRecorder(self.device)
        start = time.perf_counter()
        with rec.stage("preprocess"):
            frame, state, tasks = self.preprocess(observation)
        self.last_timings_ms = {}
        actions = self.sample_model_space(frame, state, tasks, self.draw_noise(frame.shape[0], seed), rec)
        with rec.stage("postprocess"):
            raw = T.unnormalize_action(
                actions[..., : self.embodiment.action_dim].cpu(), self.stats.action, self.embodiment
            )
        self.last_timings_ms = {**rec.ms, "total": 1e3 * (time.perf_counter() - start)}
        return raw.numpy().astype(np.float32)

    def predict_chunk(self, obs: schema.Observation, seed: int | None = None) -> schema.ActionChunk:
        """One :class:`schema.Observation` → :class:`schema.ActionChunk` (point k due at stamp + k·dt).

        Raises:
            SchemaMismatchError: the embodiment is not the 16-D single-camera G1 contract.
        """
        if len(self.embodiment.video_keys) != 1 or self.embodiment.action_dim != schema.NUM_JOINTS:
            raise SchemaMismatchError(
                f"predict_chunk needs a single-camera 16-D embodiment, got '{self.embodiment.name}'; "
                "use predict_action_chunk"
            )
        observation = {
            "images": {self.embodiment.video_keys[0]: obs.image[None]},
            "state": obs.state[None],
            "task": [obs.task],
        }
        positions = self.predict_action_chunk(observation, seed=seed)[0]
        return schema.ActionChunk.from_positions(positions, obs.stamp_ns, schema.ACTION_DT_S)

    @classmethod
    def from_checkpoint(cls, directory: str | Path, device: torch.device | str = "cpu") -> DiT4DiTPolicy:
        """Same as :func:`dit4dit_policy.model.checkpoint.load_policy`."""
        from dit4dit_policy.model.checkpoint import load_policy

        return load_policy(directory, device=device)


__all__ = ["DiT4DiTPolicy", "StepNoise"]
