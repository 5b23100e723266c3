"""FLOPs per control step of the authors' path and ours, counted on ``meta`` tensors.

Both paths are run exactly as in ``dit4dit bench policy`` — same functions — but on a policy
whose modules live on the ``meta`` device, under ``torch.utils.flop_counter.FlopCounterMode``.
Nothing is allocated, so the full ``cosmos25_2b`` config (2 B video DiT + 7.6 B text encoder) is
counted in about a second. Our path is counted in steady state (its prompt embeddings and prompt
K/V cached, as on the robot after ``dit4dit cache-prompts``); the one-off per-prompt cost is
reported separately. model_spec §6 estimates ≈ 12.1 vs ≈ 1.75 TFLOP per step for G1 at 224².
"""

from __future__ import annotations

import dataclasses

import torch

from dit4dit_policy.data.embodiment import get_embodiment
from dit4dit_policy.model.build import build_action_head, build_backbone
from dit4dit_policy.model.config import ModelConfig
from dit4dit_policy.model.policy import DiT4DiTPolicy
from dit4dit_policy.model.profiling import StageRecorder
from dit4dit_policy.model.reference import reference_noise, reference_sample
from dit4dit_policy.model.text_encoder import PromptEncoder, qwen_config
from dit4dit_policy.model.tokenizer import build_byte_tokenizer
from dit4dit_policy.model.video_backbone import feature_timestep


@dataclasses.dataclass
class StepFlops:
    """FLOPs per stage (text, vae, video_dit, action_dit).

    Attributes:
        reference: the authors' path, per step.
        ours: our path, per step in steady state.
        ours_per_prompt: our one-off cost when an instruction is first seen.
    """

    reference: dict[str, int]
    ours: dict[str, int]
    ours_per_prompt: dict[str, int]

    @property
    def ratio(self) -> float:
        """Reference / ours total FLOPs per step."""
        return sum(self.reference.values()) / max(1, sum(self.ours.values()))


def meta_policy(cfg: ModelConfig) -> DiT4DiTPolicy:
    """A policy of ``cfg`` whose weights are ``meta`` tensors (no memory, no real compute)."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    cfg = dataclasses.replace(
        cfg, pretrained_dir=None, dtype="float32", vae=dataclasses.replace(cfg.vae, pretrained=None)
    )
    feature_timestep(cfg.video.sigma_max, cfg.video.sigma_min)  # computed (and cached) off the meta device
    with torch.device("meta"):
        backbone = build_backbone(cfg)
        head = build_action_head(cfg)
        llm = Qwen2_5_VLForConditionalGeneration(qwen_config(cfg.text)).eval()
    text = PromptEncoder(cfg.text, "meta", model=llm, tokenizer=build_byte_tokenizer()).to("meta")
    policy = DiT4DiTPolicy(cfg, backbone, head, text, stats=None, embodiment=get_embodiment(cfg.embodiment))
    return policy.eval()


def count_step_flops(
    cfg: ModelConfig, task: str = "pick up the red cup and put it on the plate"
) -> StepFlops:
    """FLOPs of one inference step (batch 1) of both paths for ``cfg``."""
    policy = meta_policy(cfg)
    height, width = cfg.image_size
    frame = torch.zeros(1, 3, height, width * len(policy.embodiment.video_keys), device="meta")
    state = torch.zeros(1, cfg.state_dim, device="meta")
    noise = policy.draw_noise(1)
    vae_eps, latents = reference_noise(policy, noise, torch.Generator().manual_seed(0))
    reference = StageRecorder("meta", count_flops=True)
    reference_sample(policy, frame, state, [task], vae_eps, latents, noise.action, reference)
    first = StageRecorder("meta", count_flops=True)
    policy.sample_model_space(frame, state, [task], noise, first)
    steady = StageRecorder("meta", count_flops=True)
    policy.sample_model_space(frame, state, [task], noise, steady)
    per_prompt = {"text": first.flops.get("text", 0) - steady.flops.get("text", 0)}
    return StepFlops(reference.flops, steady.flops, per_prompt)


__all__ = ["StepFlops", "count_step_flops", "meta_policy"]
