import pytest
import torch

from dit4dit_policy.errors import CheckpointError
from dit4dit_policy.model.config import COSMOS_SYSTEM_PROMPT, TextEncoderConfig
from dit4dit_policy.model.prompt_cache import PromptCache, prompt_key
from dit4dit_policy.model.text_encoder import PromptEncoder
from dit4dit_policy.model.tokenizer import SPECIAL_IDS, build_byte_tokenizer

SMALL = TextEncoderConfig(
    hidden_size=32,
    num_hidden_layers=3,
    num_attention_heads=2,
    num_key_value_heads=1,
    intermediate_size=48,
    vocab_size=272,
    mrope_section=(2, 3, 3),
    max_length=160,
)


@pytest.fixture(scope="module")
def encoder():
    return PromptEncoder.from_config(SMALL, seed=3)


def test_byte_tokenizer_renders_the_qwen_chat_layout():
    tok = build_byte_tokenizer()
    conversation = [
        {"role": "system", "content": [{"type": "text", "text": "sys"}]},
        {"role": "user", "content": [{"type": "text", "text": "stack the cups é"}]},
    ]
    text = tok.apply_chat_template(conversation, tokenize=False, add_generation_prompt=False)
    assert text == "<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nstack the cups é<|im_end|>\n"
    ids = tok(text)["input_ids"]
    assert ids[0] == SPECIAL_IDS["<|im_start|>"] and ids[1:7] == list(b"system")
    assert ids[-4:] == [0xC3, 0xA9, SPECIAL_IDS["<|im_end|>"], ord("\n")]  # é as 2 UTF-8 bytes


def test_tokenize_pads_and_truncates_to_max_length(encoder):
    ids = encoder.tokenize(["open the drawer", "x" * 500])
    assert ids.shape == (2, SMALL.max_length) and ids.dtype == torch.long
    pad = SPECIAL_IDS["<|endoftext|>"]
    assert ids[0, -1] == pad and (ids[1] != pad).all()  # short prompt padded, long one truncated
    system = COSMOS_SYSTEM_PROMPT.encode()
    assert bytes(ids[0, 8 : 8 + len(system)].tolist()) == system  # "<|im_start|>system\n" is 8 ids


def test_embeddings_follow_the_cosmos_recipe(encoder):
    prompts = ["open the drawer", "pick up the red cup"]
    out = encoder.encode(prompts)
    assert out.shape == (2, SMALL.max_length, SMALL.num_hidden_layers * SMALL.hidden_size)
    # Recompute by hand: hidden_states[1:], (h − mean)/(std + 1e-8) per layer, concatenated.
    ids = encoder.tokenize(prompts)
    with torch.no_grad():
        states = encoder.model(ids, output_hidden_states=True).hidden_states
    assert len(states) == SMALL.num_hidden_layers + 1
    manual = torch.cat(
        [(h - h.mean(-1, keepdim=True)) / (h.std(-1, keepdim=True) + 1e-8) for h in states[1:]], -1
    )
    assert torch.equal(out, manual)
    # skipping the LM head changes nothing
    assert torch.equal(out, encoder.encode_reference(prompts))
    assert not torch.equal(out[0], out[1])


def test_encoder_id_tracks_weights(encoder):
    same = PromptEncoder.from_config(SMALL, seed=3)
    other = PromptEncoder.from_config(SMALL, seed=4)
    assert same.encoder_id == encoder.encoder_id != other.encoder_id
    other.load_state_dict(encoder.state_dict())
    assert other.encoder_id == encoder.encoder_id
    with pytest.raises(CheckpointError, match="do not match"):
        other.load_state_dict({"bogus": torch.zeros(1)})


def test_missing_pretrained_directory(tmp_path):
    with pytest.raises(CheckpointError, match=r"no config\.json"):
        PromptEncoder.from_pretrained(tmp_path, SMALL)


def test_prompt_cache_memory_disk_and_errors(tmp_path):
    value = torch.randn(7, 5)
    key = prompt_key("enc", "rev", "open", 7, "sys")
    assert key != prompt_key("enc", "rev", "open", 8, "sys") != prompt_key("enc2", "rev", "open", 7, "sys")
    cache = PromptCache(tmp_path / "c", capacity=2)
    assert cache.get(key, "open") is None
    cache.put(key, "open", value, "enc")
    assert torch.equal(cache.get(key, "open"), value)
    assert [p.name for p in (tmp_path / "c").iterdir()] == [f"{key}.safetensors"]  # no temp files left
    fresh = PromptCache(tmp_path / "c", capacity=2)  # a new process: read from disk
    assert torch.equal(fresh.get(key, "open"), value)
    with pytest.raises(CheckpointError, match="holds 'open'"):
        fresh.get(key, "close")
    for i in range(3):  # LRU keeps `capacity` entries in memory
        cache.put(f"k{i}", f"p{i}", torch.zeros(1), "enc")
    assert len(cache) == 2
    (tmp_path / "c" / f"{key}.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="unreadable"):
        PromptCache(tmp_path / "c").get(key, "open")
    memory_only = PromptCache(None)
    memory_only.put(key, "open", value, "enc")
    assert torch.equal(memory_only.get(key, "open"), value)
