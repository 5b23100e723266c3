"""Model configuration: typed dataclasses and named presets, loaded through ``dit4dit_policy.config``.

Presets (``PRESETS``; every number from ``reference/model_spec.md``):

* ``cosmos25_2b`` — the paper's model for the Unitree G1 (= ``cosmos25_2b_g1``): Cosmos-Predict2.5-2B
  video DiT (§1.2), Wan2.1 VAE (§1.4), Cosmos-Reason1 / Qwen2.5-VL-7B text encoder (§1.5), DiT-B action
  head (§4), 224×224 ego view, 9 pixel frames → 3 latents, horizon 16, state 64 / action 32 (§3, §5).
* ``cosmos25_2b_robocasa_gr1`` — the same model for RoboCasa-GR1 (29-D arms+hands+waist; §5).
* ``cosmos25_2b_libero`` — LIBERO: primary + wrist view side by side (224×448), 5 pixel frames →
  2 latents, horizon 8, state 16 / action 8 (§3, §5).
* ``scaled`` — ``cosmos25_2b_g1`` with every width divided by one common factor (16): full depth
  (28 text layers, 28 video blocks, 16 action blocks, the full VAE), full input resolution (224²,
  9 frames) and full sequence lengths (512 prompt tokens, 588 video tokens). The vocabulary is
  treated as a width of the LM head so that each stage keeps its share of the per-step FLOPs.
  Head counts are rounded so that head dims stay valid (RoPE needs ≥ 16). Used by
  ``dit4dit bench policy``.
* ``tiny`` — < 5 M parameters, 96×96 input, 4 video blocks, 6 action blocks, a 2-layer
  Qwen2.5-VL-shaped text encoder with an offline byte-level tokenizer; trains on a CPU.

All presets run the same code. Override any field from YAML or with ``--model.a.b=value``
(e.g. ``--model.image_size=[64,64]``) through :func:`load_model_config`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from dit4dit_policy import config as config_loader
from dit4dit_policy.errors import ConfigError

#: Cosmos-Predict2.5 text-conditioning system prompt (model_spec §1.5; diffusers pipeline).
COSMOS_SYSTEM_PROMPT = "You are a helpful assistant who will provide prompts to an image generator."

#: Latent channels of the Wan2.1 VAE (``z_dim``; model_spec §1.4).
LATENT_CHANNELS = 16

#: Revision of the Cosmos-Predict2.5-2B checkpoint in the diffusers layout (model_spec §1.1).
COSMOS_REVISION = "diffusers/base/post-trained"


@dataclasses.dataclass
class VideoDiTConfig:
    """Cosmos-Predict2.5 video DiT (diffusers ``CosmosTransformer3DModel``; model_spec §1.2, §2).

    Attributes:
        num_layers: transformer blocks (28).
        num_attention_heads: heads (16); width D = heads × head dim.
        attention_head_dim: head dim (128); RoPE splits it t:h:w, so it must be ≥ 16.
        mlp_ratio: FF expansion (4).
        text_embed_dim: width of the projected prompt context (1024).
        adaln_lora_dim: AdaLN-LoRA rank (256).
        rope_scale: NTK RoPE factors (t, h, w) = (1, 3, 3).
        extract_layer: 0-indexed block whose output feeds the action DiT (17 = paper's layer 18; §2).
        conditional_frame_timestep: timestep of the clean condition latent (1e-4; §1.3).
        sigma_max: UniPC flow ``sigma_max`` (200): τ_f = sigmas[0] of a 1-step schedule = 200/201 (§2).
        sigma_min: UniPC flow ``sigma_min`` (0.01).
    """

    num_layers: int = 28
    num_attention_heads: int = 16
    attention_head_dim: int = 128
    mlp_ratio: float = 4.0
    text_embed_dim: int = 1024
    adaln_lora_dim: int = 256
    rope_scale: tuple[float, float, float] = (1.0, 3.0, 3.0)
    extract_layer: int = 17
    conditional_frame_timestep: float = 1e-4
    sigma_max: float = 200.0
    sigma_min: float = 0.01

    def __post_init__(self) -> None:
        _positive(self, "num_layers", "num_attention_heads", "text_embed_dim", "adaln_lora_dim")
        if self.attention_head_dim < 16 or (self.attention_head_dim // 6 * 2) % 2:
            raise ValueError(
                "attention_head_dim must be >= 16 with an even RoPE split (hd//6*2 even; e.g. 16, 32, 128), "
                f"got {self.attention_head_dim}"
            )
        if not 0 <= self.extract_layer < self.num_layers:
            raise ValueError(f"extract_layer must be in [0, {self.num_layers}), got {self.extract_layer}")
        if not 0 <= self.conditional_frame_timestep < 1:
            raise ValueError(
                f"conditional_frame_timestep must be in [0, 1), got {self.conditional_frame_timestep}"
            )

    @property
    def hidden_size(self) -> int:
        """Width D of the residual stream (2048 for Cosmos-Predict2.5-2B)."""
        return self.num_attention_heads * self.attention_head_dim


@dataclasses.dataclass
class VAEConfig:
    """Wan2.1 VAE (diffusers ``AutoencoderKLWan``; model_spec §1.4). Frozen in policy training.

    Attributes:
        base_dim: first-stage channels (96).
        dim_mult: channel multipliers per stage (1, 2, 4, 4).
        num_res_blocks: residual blocks per stage (2).
        cond_latent: how the condition latent is drawn from the encoder's Gaussian: ``"sample"``
            (mean + std·ε, as the authors' code: ``Cosmos25.py:326``) or ``"mean"``.
        pretrained: a local ``AutoencoderKLWan`` directory (diffusers layout: ``config.json`` +
            weights), e.g. one written by ``dit4dit train-vae``; it replaces the VAE of
            ``pretrained_dir`` or the random initialisation. Its shape fields must match these.
        latents_mean: per-channel latent mean μ (16 values) of the ``(x − μ)/σ`` normalisation;
            None = the VAE's own ``config.latents_mean`` (Wan2.1's values for a fresh VAE; a
            ``pretrained`` VAE's stored ones). Filled in from a ``pretrained`` VAE when a policy is
            built, so that a checkpoint's config is self-contained.
        latents_std: per-channel latent standard deviation σ (16 values, > 0); None as above.
    """

    base_dim: int = 96
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    cond_latent: Literal["sample", "mean"] = "sample"
    pretrained: Path | None = None
    latents_mean: tuple[float, ...] | None = None
    latents_std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _positive(self, "base_dim", "num_res_blocks")
        if len(self.dim_mult) != 4:
            raise ValueError(f"dim_mult must have 4 stages (8× spatial, 4× temporal), got {self.dim_mult}")
        for name in ("latents_mean", "latents_std"):
            value = getattr(self, name)
            if value is not None and len(value) != LATENT_CHANNELS:
                raise ValueError(
                    f"{name} must have {LATENT_CHANNELS} values (one per latent channel), got {len(value)}"
                )
        if self.latents_std is not None and not all(s > 0 for s in self.latents_std):
            raise ValueError(f"latents_std must be > 0 in every channel, got {self.latents_std}")
        if (self.latents_mean is None) != (self.latents_std is None):
            raise ValueError("latents_mean and latents_std must be set together (or both null)")


@dataclasses.dataclass
class TextEncoderConfig:
    """Prompt encoder: Qwen2.5-VL hidden states of all layers (model_spec §1.5). Frozen.

    ``pretrained`` selects a local Qwen2.5-VL directory (e.g. ``<Cosmos-Predict2.5-2B>/text_encoder``
    with the tokenizer in its sibling ``tokenizer/``); without it the encoder is built from the
    size fields below with random weights and the offline byte-level tokenizer.

    Attributes:
        pretrained: local Qwen2.5-VL directory, or None to build from config.
        tokenizer: local tokenizer directory (None: ``<pretrained>/../tokenizer`` or the byte tokenizer).
        hidden_size: LLM width (3584).
        num_hidden_layers: decoder layers (28); the embedding width of the prompt is layers × width.
        num_attention_heads: query heads (28).
        num_key_value_heads: K/V heads (4).
        intermediate_size: MLP width (18944).
        vocab_size: vocabulary (152064).
        mrope_section: multimodal RoPE split of half the head dim ((16, 24, 24)).
        rope_theta: RoPE base (1e6).
        max_length: prompt tokens after padding/truncation (512).
        system_prompt: chat-template system message.
    """

    pretrained: Path | None = None
    tokenizer: Path | None = None
    hidden_size: int = 3584
    num_hidden_layers: int = 28
    num_attention_heads: int = 28
    num_key_value_heads: int = 4
    intermediate_size: int = 18944
    vocab_size: int = 152064
    mrope_section: tuple[int, int, int] = (16, 24, 24)
    rope_theta: float = 1_000_000.0
    max_length: int = 512
    system_prompt: str = COSMOS_SYSTEM_PROMPT

    def __post_init__(self) -> None:
        _positive(self, "hidden_size", "num_hidden_layers", "intermediate_size", "max_length")
        if self.hidden_size % self.num_attention_heads or self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                "hidden_size must be a multiple of num_attention_heads, which must be a multiple of "
                f"num_key_value_heads; got {self.hidden_size}, {self.num_attention_heads}, "
                f"{self.num_key_value_heads}"
            )
        head_dim = self.hidden_size // self.num_attention_heads
        if 2 * sum(self.mrope_section) != head_dim:
            raise ValueError(
                f"mrope_section must sum to head_dim/2 = {head_dim // 2}, got {self.mrope_section}"
            )
        if self.vocab_size < 272:
            raise ValueError(f"vocab_size must be >= 272 (byte tokenizer + specials), got {self.vocab_size}")

    @property
    def embed_dim(self) -> int:
        """Width of one prompt token after concatenating all layers (28 × 3584 = 100352)."""
        return self.num_hidden_layers * self.hidden_size


@dataclasses.dataclass
class ActionDiTConfig:
    """GR00T-N1-style flow-matching action head (model_spec §4).

    Attributes:
        input_embedding_dim: DiT width (768, DiT-B).
        num_attention_heads: heads (12).
        attention_head_dim: head dim (64).
        num_layers: blocks (16; even = cross-attention to video, odd = self-attention).
        hidden_size: MLP width of the state encoder / decoder (2560).
        output_dim: DiT output width (2560).
        dropout: dropout everywhere in the DiT (0.2).
        max_seq_len: size of the learned position table (1024).
        num_timestep_buckets: t discretisation (1000): t_disc = int(1000·t).
        noise_beta_alpha: Beta α of the training t (1.5).
        noise_beta_beta: Beta β (1.0).
        noise_s: t = Beta / s (0.999).
        num_inference_timesteps: Euler steps (4).
        repeated_diffusion_steps: batch tiling in training (4; ``trainer.repeated_diffusion_steps``).
    """

    input_embedding_dim: int = 768
    num_attention_heads: int = 12
    attention_head_dim: int = 64
    num_layers: int = 16
    hidden_size: int = 2560
    output_dim: int = 2560
    dropout: float = 0.2
    max_seq_len: int = 1024
    num_timestep_buckets: int = 1000
    noise_beta_alpha: float = 1.5
    noise_beta_beta: float = 1.0
    noise_s: float = 0.999
    num_inference_timesteps: int = 4
    repeated_diffusion_steps: int = 4

    def __post_init__(self) -> None:
        _positive(self, "num_layers", "hidden_size", "output_dim", "num_inference_timesteps")
        _positive(self, "repeated_diffusion_steps", "num_timestep_buckets", "max_seq_len")
        if self.input_embedding_dim != self.num_attention_heads * self.attention_head_dim:
            raise ValueError(
                "input_embedding_dim must equal num_attention_heads × attention_head_dim, got "
                f"{self.input_embedding_dim} != {self.num_attention_heads} × {self.attention_head_dim}"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.noise_s <= 1:
            raise ValueError(f"noise_s must be in (0, 1], got {self.noise_s}")


@dataclasses.dataclass
class VideoLossConfig:
    """Video flow-matching loss (model_spec §3).

    Attributes:
        weight: λ in ``loss = action + λ·video`` (1.0); 0 skips the video forward entirely.
        time_distribution: τ_v distribution: ``uniform`` (the run scripts) or ``logit_normal`` (the yamls).
        high_sigma_ratio: fraction of samples forced to τ_v ∈ [high_sigma_min, 1) (None = off).
        high_sigma_min: lower bound of the forced high τ_v.
    """

    weight: float = 1.0
    time_distribution: Literal["uniform", "logit_normal"] = "uniform"
    high_sigma_ratio: float | None = None
    high_sigma_min: float | None = None

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"video loss weight must be >= 0, got {self.weight}")
        if (self.high_sigma_ratio is None) != (self.high_sigma_min is None):
            raise ValueError("high_sigma_ratio and high_sigma_min must be set together (or both null)")
        if self.high_sigma_ratio is not None and not 0 <= self.high_sigma_ratio <= 1:
            raise ValueError(f"high_sigma_ratio must be in [0, 1], got {self.high_sigma_ratio}")
        if self.high_sigma_min is not None and not 0 <= self.high_sigma_min < 1:
            raise ValueError(f"high_sigma_min must be in [0, 1), got {self.high_sigma_min}")


@dataclasses.dataclass
class ModelConfig:
    """The whole DiT4DiT policy.

    Attributes:
        preset: name of the preset this config started from (informational).
        pretrained_dir: local Cosmos-Predict2.5-2B directory in the diffusers layout (revision
            ``diffusers/base/post-trained``): transformer, VAE, text encoder and tokenizer are loaded
            from it when building a fresh policy. None: build everything from this config.
        dtype: ``auto`` (bf16 on CUDA, fp32 on CPU), ``float32`` or ``bfloat16`` for the video DiT,
            VAE and text encoder. The action head always runs in fp32 (model_spec §4 "Precision").
        embodiment: ``data.embodiment`` registry name.
        image_size: (H, W) of each camera view [px], multiples of 16 (224×224).
        video_delta_indices: raw frame offsets of a training clip (0..16).
        action_video_freq_ratio: keep every n-th of them (2) → 9 pixel frames → 3 latents.
        horizon: action chunk length (16).
        state_dim: padded model state dim (64; sin/cos of the raw state).
        action_dim: padded model action dim (32).
        video: video DiT. vae: VAE. text: text encoder. action: action head. video_loss: video loss.
        prompt_cache_size: prompts kept in the in-memory LRU cache.
    """

    preset: str = "cosmos25_2b"
    pretrained_dir: Path | None = None
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    embodiment: str = "g1_16dof"
    image_size: tuple[int, int] = (224, 224)
    video_delta_indices: tuple[int, ...] = tuple(range(17))
    action_video_freq_ratio: int = 2
    horizon: int = 16
    state_dim: int = 64
    action_dim: int = 32
    video: VideoDiTConfig = dataclasses.field(default_factory=VideoDiTConfig)
    vae: VAEConfig = dataclasses.field(default_factory=VAEConfig)
    text: TextEncoderConfig = dataclasses.field(default_factory=TextEncoderConfig)
    action: ActionDiTConfig = dataclasses.field(default_factory=ActionDiTConfig)
    video_loss: VideoLossConfig = dataclasses.field(default_factory=VideoLossConfig)
    prompt_cache_size: int = 64

    def __post_init__(self) -> None:
        height, width = self.image_size
        if height <= 0 or width <= 0 or height % 16 or width % 16:
            raise ValueError(
                f"image_size must be positive multiples of 16 (H, W), got {tuple(self.image_size)}"
            )
        if not self.video_delta_indices or self.video_delta_indices[0] != 0:
            raise ValueError(
                f"video_delta_indices must start at 0 (current frame), got {self.video_delta_indices}"
            )
        if self.action_video_freq_ratio < 1:
            raise ValueError(f"action_video_freq_ratio must be >= 1, got {self.action_video_freq_ratio}")
        _positive(self, "horizon", "state_dim", "action_dim", "prompt_cache_size")
        if self.num_latent_frames < 2:
            raise ValueError(
                "the clip must give at least 2 latent frames (>= 5 pixel frames after "
                f"action_video_freq_ratio) for a future frame; got {self.num_pixel_frames} pixel frames"
            )
        if self.horizon + 1 > self.action.max_seq_len:
            raise ValueError(f"horizon {self.horizon} exceeds action.max_seq_len {self.action.max_seq_len}")

    @property
    def num_pixel_frames(self) -> int:
        """Pixel frames of a clip: every ratio-th delta index (9 for G1/GR1, 5 for LIBERO)."""
        return len(self.video_delta_indices[:: self.action_video_freq_ratio])

    @property
    def num_latent_frames(self) -> int:
        """Causal-VAE latent frames ``(T-1)//4 + 1`` (3 for G1/GR1, 2 for LIBERO)."""
        return (self.num_pixel_frames - 1) // 4 + 1


def _positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")


# ---------------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------------


def _cosmos25_2b_g1() -> ModelConfig:
    return ModelConfig(preset="cosmos25_2b_g1")


def _cosmos25_2b_robocasa_gr1() -> ModelConfig:
    return ModelConfig(preset="cosmos25_2b_robocasa_gr1", embodiment="gr1_29dof")


def _cosmos25_2b_libero() -> ModelConfig:
    # LIBERO: 2 views at 224² each (224×448 side by side), frames 0..8 every 2nd → 5 → 2 latents,
    # horizon 8, state 8 → 16 sin/cos, action 7 → 8 (model_spec §3, §5).
    return ModelConfig(
        preset="cosmos25_2b_libero",
        embodiment="franka_libero",
        video_delta_indices=tuple(range(9)),
        horizon=8,
        state_dim=16,
        action_dim=8,
    )


#: Common width divisor of the ``scaled`` preset.
SCALED_FACTOR = 16


def _scaled() -> ModelConfig:
    f = SCALED_FACTOR
    return ModelConfig(
        preset="scaled",
        dtype="float32",
        # Video DiT: D 2048/16 = 128 (1 head of 128 keeps the full RoPE split), context 1024/16,
        # AdaLN-LoRA 256/16; 28 blocks, extraction at 17.
        video=VideoDiTConfig(
            num_attention_heads=1,
            attention_head_dim=2048 // f,
            text_embed_dim=1024 // f,
            adaln_lora_dim=256 // f,
        ),
        vae=VAEConfig(base_dim=96 // f),
        # Qwen2.5-VL-7B / 16: width 224 = 7 heads × 32 with 1 K/V head (GQA 7:1 as 28:4), MLP 1184,
        # vocabulary 9504 (LM head FLOPs scale like the other matmuls), 28 layers, 512 tokens.
        text=TextEncoderConfig(
            hidden_size=3584 // f,
            num_attention_heads=7,
            num_key_value_heads=1,
            intermediate_size=18944 // f,
            vocab_size=152064 // f,
            mrope_section=(4, 6, 6),
        ),
        # DiT-B / 16: 48 = 3 heads × 16, MLP 2560/16; 16 blocks.
        action=ActionDiTConfig(
            input_embedding_dim=768 // f,
            num_attention_heads=3,
            attention_head_dim=16,
            hidden_size=2560 // f,
            output_dim=2560 // f,
        ),
    )


def _tiny() -> ModelConfig:
    return ModelConfig(
        preset="tiny",
        dtype="float32",
        image_size=(96, 96),
        video=VideoDiTConfig(
            num_layers=4,
            num_attention_heads=3,
            attention_head_dim=32,
            text_embed_dim=32,
            adaln_lora_dim=16,
            extract_layer=2,
        ),
        vae=VAEConfig(base_dim=8, num_res_blocks=1),
        text=TextEncoderConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            intermediate_size=64,
            vocab_size=272,
            mrope_section=(2, 3, 3),
            max_length=256,
        ),
        action=ActionDiTConfig(
            input_embedding_dim=128,
            num_attention_heads=4,
            attention_head_dim=32,
            num_layers=6,
            hidden_size=256,
            output_dim=256,
            dropout=0.1,
        ),
    )


#: Named presets → factories of fresh configs.
PRESETS = {
    "cosmos25_2b": _cosmos25_2b_g1,
    "cosmos25_2b_g1": _cosmos25_2b_g1,
    "cosmos25_2b_robocasa_gr1": _cosmos25_2b_robocasa_gr1,
    "cosmos25_2b_libero": _cosmos25_2b_libero,
    "scaled": _scaled,
    "tiny": _tiny,
}


def preset_config(name: str) -> ModelConfig:
    """A fresh config of a named preset.

    Raises:
        ConfigError: unknown preset (the message lists the known ones).
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; expected one of {', '.join(sorted(PRESETS))}")
    return PRESETS[name]()


def load_model_config(
    preset: str = "cosmos25_2b", path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> ModelConfig:
    """Build a config: preset, then a YAML file, then ``--a.b=value`` overrides (later wins).

    Args:
        preset: preset name (the YAML may not change it; its ``preset`` key is informational).
        path: optional YAML mapping with any subset of :class:`ModelConfig` fields.
        overrides: e.g. ``["--image_size=[64,64]", "--video.num_layers=2"]`` (keys relative to the
            model config; a leading ``model.`` is accepted and stripped).

    Raises:
        ConfigError: unknown preset, unknown key, wrong type or a failed range check.
    """
    data = config_loader.to_dict(preset_config(preset))
    source = f"preset {preset!r}"
    if path is not None:
        data = _merge(data, config_loader.read_yaml(path))
        source += f" + {path}"
    stripped = [_strip_model_prefix(o) for o in overrides]
    if stripped:
        data = config_loader.apply_overrides(data, stripped)
        source += " + command-line overrides"
    return config_loader.from_dict(ModelConfig, data, source=source)


def _strip_model_prefix(text: str) -> str:
    body = text[2:] if text.startswith("--") else text
    return "--" + (body[len("model.") :] if body.startswith("model.") else body)


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


__all__ = [
    "COSMOS_REVISION",
    "COSMOS_SYSTEM_PROMPT",
    "PRESETS",
    "SCALED_FACTOR",
    "ActionDiTConfig",
    "ModelConfig",
    "TextEncoderConfig",
    "VAEConfig",
    "VideoDiTConfig",
    "VideoLossConfig",
    "load_model_config",
    "preset_config",
]
