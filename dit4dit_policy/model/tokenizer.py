r"""Offline byte-level tokenizer with the Qwen ChatML template, for text encoders built from config.

The ``tiny`` and ``scaled`` presets must not download a vocabulary, so their tokenizer is generated
here: token id = UTF-8 byte value (0-255) followed by the Qwen special tokens, wrapped in a
``transformers.PreTrainedTokenizerFast`` (a ``tokenizers`` byte-level BPE with no merges) whose chat
template renders exactly Qwen2.5-VL's ChatML layout::

    <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{instruction}<|im_end|>\n

so the prompt path (``apply_chat_template`` → pad/truncate to ``max_length`` → LLM) is the same code
for the real Qwen tokenizer and this one. Padding is on the right with ``<|endoftext|>``.
"""

from __future__ import annotations

#: Special tokens after the 256 byte ids, in id order (Qwen2.5-VL names).
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: Id of each special token.
SPECIAL_IDS = {name: 256 + i for i, name in enumerate(SPECIAL_TOKENS)}

#: Smallest vocabulary that holds the byte tokenizer.
BYTE_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)

_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _byte_symbols() -> list[str]:
    """The printable unicode symbol of each byte used by byte-level BPE (GPT-2 convention)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    symbols: dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def build_byte_tokenizer():
    """A ``PreTrainedTokenizerFast``: one token per UTF-8 byte plus Qwen's special tokens.

    Returns:
        transformers.PreTrainedTokenizerFast with ``pad_token = <|endoftext|>`` (id 256),
        right padding, and the ChatML chat template.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {symbol: i for i, symbol in enumerate(_byte_symbols())}
    vocab.update(SPECIAL_IDS)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<|endoftext|>",
        eos_token="<|im_end|>",
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
        chat_template=_CHAT_TEMPLATE,
        padding_side="right",
        model_max_length=1 << 20,
    )


__all__ = ["BYTE_VOCAB_SIZE", "SPECIAL_IDS", "SPECIAL_TOKENS", "build_byte_tokenizer"]
