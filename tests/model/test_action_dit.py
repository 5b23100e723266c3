import pytest
import torch

from dit4dit_policy.model.action_dit import ActionHead, attention, full_precision
from dit4dit_policy.model.config import ActionDiTConfig, preset_config

SMALL = ActionDiTConfig(
    input_embedding_dim=64,
    num_attention_heads=4,
    attention_head_dim=16,
    num_layers=4,
    hidden_size=96,
    output_dim=80,
)


def _head(seed=0):
    torch.manual_seed(seed)
    return ActionHead(SMALL, action_dim=32, state_dim=64, horizon=16, feature_dim=48).eval()


def test_layout_follows_the_authors_module_names():
    head = _head()
    blocks = head.model.transformer_blocks
    assert [b.is_cross for b in blocks] == [True, False, True, False]
    assert blocks[0].attn1.to_k.in_features == 48 and blocks[1].attn1.to_k.in_features == 64
    keys = set(head.state_dict())
    for key in (
        "model.timestep_encoder.timestep_embedder.linear_1.weight",
        "model.transformer_blocks.0.norm1.linear.weight",
        "model.transformer_blocks.0.attn1.to_out.0.bias",
        "model.transformer_blocks.0.ff.net.0.proj.weight",
        "model.transformer_blocks.0.ff.net.2.weight",
        "model.proj_out_1.weight",
        "model.proj_out_2.weight",
        "state_encoder.layer1.weight",
        "action_encoder.layer3.weight",
        "action_decoder.layer2.weight",
        "position_embedding.weight",
    ):
        assert key in keys, key
    # DiT-B at full size: 768 wide, 12 × 64 heads, K/V 2048 → 768 (model_spec §4)
    full = preset_config("cosmos25_2b").action
    assert full.input_embedding_dim == 768 and full.num_attention_heads * full.attention_head_dim == 768


def test_attention_matches_diffusers_processor():
    head = _head()
    block = head.model.transformer_blocks[0]
    hidden, context = torch.randn(2, 17, 64), torch.randn(2, 30, 48)
    torch.testing.assert_close(
        attention(block.attn1, hidden, context), block.attn1(hidden, context), rtol=0, atol=0
    )
    self_block = head.model.transformer_blocks[1]
    torch.testing.assert_close(attention(self_block.attn1, hidden), self_block.attn1(hidden), rtol=0, atol=0)


def test_kv_reuse_gives_an_identical_chunk():
    head = _head()
    features, state, noise = torch.randn(2, 30, 48), torch.randn(2, 64), torch.randn(2, 16, 32)
    with torch.no_grad():
        reused = head.sample(features, state, noise, reuse_kv=True)
        recomputed = head.sample(features, state, noise, reuse_kv=False)
    assert reused.shape == (2, 16, 32) and reused.dtype == torch.float32
    assert torch.equal(reused, recomputed)
    kv = head.project_video(features)
    assert len(kv) == 2 and kv[0][0].shape == (2, 4, 30, 16)


def test_velocity_depends_on_time_state_and_video():
    head = _head()
    x, state, feats = (
        torch.randn(1, 16, 32),
        head.state_encoder(torch.randn(1, 1, 64)),
        torch.randn(1, 30, 48),
    )
    with torch.no_grad():
        base = head.velocity(x, torch.tensor([1000]), state, feats)
        assert not torch.equal(base, head.velocity(x, torch.tensor([250]), state, feats))
        assert not torch.equal(base, head.velocity(x, torch.tensor([1000]), state + 1, feats))
        assert not torch.equal(base, head.velocity(x, torch.tensor([1000]), state, feats + 1))


def test_loss_tiles_the_batch_and_trains():
    head = _head().train()
    feats, actions = torch.randn(2, 30, 48), torch.rand(2, 16, 32) * 2 - 1
    mask = torch.ones(2, 16, 32, dtype=torch.bool)
    seen = []
    handle = head.action_encoder.register_forward_hook(lambda m, i, o: seen.append(o.shape[0]))
    loss = head.loss(feats, actions, mask, torch.randn(2, 64))
    handle.remove()
    assert seen == [2 * SMALL.repeated_diffusion_steps] and loss.ndim == 0
    loss.backward()
    assert head.model.transformer_blocks[0].attn1.to_k.weight.grad is not None


def test_head_stays_fp32_under_autocast():
    head = _head()
    args = torch.randn(1, 30, 48), torch.randn(1, 64), torch.randn(1, 16, 32)
    with torch.no_grad():
        exact = head.sample(*args)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lowered = head.sample(*args)
            with full_precision(torch.device("cpu")):
                guarded = head.sample(*args)
    assert torch.equal(guarded, exact)
    assert not torch.equal(lowered, exact)  # autocast would otherwise run the head in bf16
    with pytest.raises(ValueError, match="input_embedding_dim"):
        ActionDiTConfig(input_embedding_dim=100, num_attention_heads=3, attention_head_dim=32)


@pytest.mark.slow
def test_head_overfits_fixed_features():
    torch.manual_seed(0)
    cfg = ActionDiTConfig(
        input_embedding_dim=64,
        num_attention_heads=2,
        attention_head_dim=32,
        num_layers=2,
        hidden_size=128,
        output_dim=128,
        dropout=0.0,
    )
    head = ActionHead(cfg, action_dim=32, state_dim=64, horizon=16, feature_dim=96)
    feats, actions, state = torch.randn(2, 48, 96), torch.rand(2, 16, 32) * 2 - 1, torch.rand(2, 64)
    mask = torch.ones(2, 16, 32, dtype=torch.bool)

    def evaluate():
        torch.manual_seed(1)
        with torch.no_grad():
            return head.loss(feats, actions, mask, state).item()

    before = evaluate()
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=0.0)
    for _ in range(60):
        optimizer.zero_grad()
        head.loss(feats, actions, mask, state).backward()
        optimizer.step()
    assert evaluate() < 0.85 * before
