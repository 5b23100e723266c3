"""Cosmos prompt encoder: Qwen2.5-VL hidden states of every layer, normalised and concatenated.

Exactly the Cosmos-Predict2.5 recipe (model_spec §1.5; ``Cosmos25.py:168-215``, diffusers
``Cosmos2_5_PredictBasePipeline._get_prompt_embeds``):

1. chat template [system: "You are a helpful assistant who will provide prompts to an image
   generator.", user: instruction], no generation prompt;
2. tokens padded/truncated to ``max_length`` (512); no attention mask anywhere (pad tokens are
   attended, as in the official pipeline);
3. ``hidden_states[1:]`` (the decoder-layer outputs; the last one after the final RMSNorm, as
   transformers returns it), each normalised as ``(h − mean) / (std + 1e-8)`` over the width;
4. concatenated: (B, L, layers·width) = (B, 512, 28·3584 = 100352).

:meth:`PromptEncoder.encode` runs only the decoder stack (``model.model``) without a KV cache;
the authors call the full ``Qwen2_5_VLForConditionalGeneration`` and so also compute LM-head
logits (152064 × 512 per prompt) that nobody reads. :meth:`PromptEncoder.encode_reference` keeps
that path for the benchmark. Both give identical embeddings.

A ``pretrained`` encoder (the 7 B Cosmos-Reason1 weights) is loaded lazily, on the first prompt
that is not cached, so a robot workstation with cached prompts never loads it.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch

from dit4dit_policy.errors import CheckpointError
from dit4dit_policy.model.config import TextEncoderConfig
from dit4dit_policy.model.tokenizer import SPECIAL_IDS, build_byte_tokenizer

logger = logging.getLogger(__name__)


def qwen_config(cfg: TextEncoderConfig):
    """A ``Qwen2_5_VLConfig`` with the text sizes of ``cfg``.

    The vision tower is minimal (never used for text-only prompts) and the special-token ids are the
    byte tokenizer's.
    """
    from transformers import Qwen2_5_VLConfig

    text = dict(
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        vocab_size=cfg.vocab_size,
        max_position_embeddings=max(4 * cfg.max_length, 1024),
        rms_norm_eps=1e-6,
        rope_scaling={"type": "mrope", "mrope_section": list(cfg.mrope_section)},
        rope_theta=cfg.rope_theta,
        tie_word_embeddings=False,
        bos_token_id=SPECIAL_IDS["<|endoftext|>"],
        eos_token_id=SPECIAL_IDS["<|im_end|>"],
        pad_token_id=SPECIAL_IDS["<|endoftext|>"],
    )
    vision = dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=cfg.hidden_size)
    vision["fullatt_block_indexes"] = [0]
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=SPECIAL_IDS["<|image_pad|>"],
        video_token_id=SPECIAL_IDS["<|video_pad|>"],
        vision_start_token_id=SPECIAL_IDS["<|vision_start|>"],
        vision_end_token_id=SPECIAL_IDS["<|vision_end|>"],
        tie_word_embeddings=False,
    )


def _hash_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        if path.suffix in (".json", ".jinja", ".txt"):
            digest.update(path.read_bytes())
        else:
            digest.update(str(path.stat().st_size).encode())
    return digest.hexdigest()[:16]


def _hash_module(module: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


class PromptEncoder:
    """Frozen Qwen2.5-VL prompt encoder.

    Not an ``nn.Module`` of the policy: it is never trained, may be absent on the robot, and is moved
    to the device only when used.

    Build with :meth:`from_config` or :meth:`from_pretrained`.

    Attributes:
        cfg: text encoder config (``max_length``, ``system_prompt``).
        encoder_id: stable identity of the weights + tokenizer (part of every prompt-cache key).
        built_from_config: True when the weights live in our checkpoints (tiny / scaled presets).
    """

    def __init__(
        self, cfg: TextEncoderConfig, encoder_id: str | None, *, model=None, tokenizer=None, loader=None
    ):
        self.cfg = cfg
        self._encoder_id = encoder_id
        self.built_from_config = loader is None
        self._model = model
        self._tokenizer = tokenizer
        self._loader = loader
        self.device = torch.device("cpu")
        self.dtype = torch.float32

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def from_config(cls, cfg: TextEncoderConfig, seed: int = 0) -> PromptEncoder:
        """Random-weight encoder of ``cfg``'s sizes with the byte tokenizer (deterministic in ``seed``)."""
        from transformers import Qwen2_5_VLForConditionalGeneration

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Qwen2_5_VLForConditionalGeneration(qwen_config(cfg))
        model.requires_grad_(False).eval()
        return cls(cfg, None, model=model, tokenizer=build_byte_tokenizer())

    @classmethod
    def from_pretrained(cls, path: str | Path, cfg: TextEncoderConfig, tokenizer: str | Path | None = None):
        """Lazily loaded local Qwen2.5-VL directory (e.g. ``<Cosmos-Predict2.5-2B>/text_encoder``).

        Args:
            path: transformers model directory (``config.json`` + safetensors).
            cfg: text config (``max_length``, ``system_prompt``; the sizes are read from ``path``).
            tokenizer: tokenizer directory; default ``<path>/../tokenizer`` if it exists, else ``path``.

        Raises:
            CheckpointError: the directory or its ``config.json`` does not exist.
        """
        path = Path(path)
        if not (path / "config.json").is_file():
            raise CheckpointError(
                f"text encoder directory {path} has no config.json (expected a Qwen2.5-VL model)"
            )
        tok_dir = Path(tokenizer) if tokenizer is not None else path.parent / "tokenizer"
        if not tok_dir.is_dir():
            tok_dir = path
        files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".safetensors", ".bin"))
        files += sorted(p for p in tok_dir.iterdir() if p.suffix in (".json", ".jinja", ".txt"))
        encoder_id = f"pretrained-{path.resolve().name}-{_hash_files(files)}"

        def load(device: torch.device, dtype: torch.dtype):
            from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

            logger.info("loading text encoder %s (%s, %s)", path, device, dtype)
            model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
                path, dtype=dtype, local_files_only=True
            )
            model.requires_grad_(False).eval().to(device)
            return model, AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)

        return cls(cfg, encoder_id, loader=load)

    # -- state --------------------------------------------------------------------------------

    @property
    def encoder_id(self) -> str:
        """Identity of weights + tokenizer.

        A hash of the weights for config-built encoders (computed on first use), of the files for
        pretrained ones.
        """
        if self._encoder_id is None:
            self._encoder_id = f"config-{_hash_module(self.model)}"
        return self._encoder_id

    @property
    def loaded(self) -> bool:
        """Whether the LLM weights are in memory."""
        return self._model is not None

    @property
    def model(self):
        """The ``Qwen2_5_VLForConditionalGeneration`` (loads a pretrained encoder on first use)."""
        if self._model is None:
            assert self._loader is not None
            self._model, self._tokenizer = self._loader(self.device, self.dtype)
        return self._model

    @property
    def tokenizer(self):
        """The tokenizer (loads with the model for pretrained encoders)."""
        if self._tokenizer is None:
            _ = self.model
        return self._tokenizer

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> PromptEncoder:
        """Move (or, for a not-yet-loaded encoder, target) a device/dtype."""
        self.device = torch.device(device) if device is not None else self.device
        changed = dtype is not None and dtype != self.dtype
        self.dtype = dtype or self.dtype
        if self._model is not None:
            self._model.to(device=self.device, dtype=self.dtype)
            if self.built_from_config and changed:
                self._encoder_id = None  # the weights' dtype is part of their identity
        return self

    def unload(self) -> None:
        """Free a pretrained encoder's weights (they reload on the next uncached prompt)."""
        if self._loader is not None:
            self._model = None
            self._tokenizer = None

    # -- encoding -----------------------------------------------------------------------------

    def tokenize(self, prompts: list[str]) -> torch.Tensor:
        """(B, max_length) int64 token ids of the chat-templated prompts."""
        rows = []
        for prompt in prompts:
            conversation = [
                {"role": "system", "content": [{"type": "text", "text": self.cfg.system_prompt}]},
                {"role": "user", "content": [{"type": "text", "text": prompt}]},
            ]
            ids = self.tokenizer.apply_chat_template(
                conversation,
                tokenize=True,
                add_generation_prompt=False,
                add_vision_id=False,
                max_length=self.cfg.max_length,
                truncation=True,
                padding="max_length",
            )
            if not isinstance(ids, list):
                ids = ids["input_ids"]
            rows.append(torch.tensor(ids, dtype=torch.long))
        return torch.stack(rows).to(self.device)

    @staticmethod
    def _normalise_and_concat(hidden_states: tuple[torch.Tensor, ...]) -> torch.Tensor:
        normed = [
            (h - h.mean(dim=-1, keepdim=True)) / (h.std(dim=-1, keepdim=True) + 1e-8)
            for h in hidden_states[1:]
        ]
        return torch.cat(normed, dim=-1)

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> torch.Tensor:
        """Prompt embeddings without the LM head.

        Args:
            prompts: B instructions.

        Returns:
            (B, max_length, layers·width) in the encoder dtype.
        """
        ids = self.tokenize(prompts)
        out = self.model.model(input_ids=ids, output_hidden_states=True, use_cache=False)
        return self._normalise_and_concat(out.hidden_states)

    @torch.no_grad()
    def encode_reference(self, prompts: list[str]) -> torch.Tensor:
        """The authors' call: the full model, LM-head logits included (for the benchmark)."""
        ids = self.tokenize(prompts)
        out = self.model(ids, output_hidden_states=True)
        return self._normalise_and_concat(out.hidden_states)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Weights of a config-built encoder (saved in checkpoints); empty for pretrained ones."""
        return dict(self.model.state_dict()) if self.built_from_config else {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load config-built weights (strict) and refresh :attr:`encoder_id`.

        Raises:
            CheckpointError: missing or unexpected keys, or a shape mismatch.
        """
        try:
            self.model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"text encoder weights do not match the config: {exc}") from exc
        self._encoder_id = None


__all__ = ["PromptEncoder", "qwen_config"]
