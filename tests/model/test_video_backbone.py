"""The video backbone against diffusers' own code paths (exact in fp32)."""

import pytest
import torch
import torch.nn.functional as F
from diffusers import UniPCMultistepScheduler

from dit4dit_policy.model import cosmos_forward as cf
from dit4dit_policy.model.video_backbone import feature_timestep


class _NearestResizeStandIn:
    """diffusers' CosmosTransformer3DModel.forward resizes the padding mask with torchvision, which
    cannot be imported next to torch 2.13+cpu (model_spec §8); this stand-in performs the same
    nearest resize so the *unmodified* diffusers forward can serve as the reference here."""

    class InterpolationMode:
        NEAREST = "nearest"

    class functional:
        @staticmethod
        def resize(tensor, size, interpolation=None):
            return F.interpolate(tensor, size=tuple(size), mode="nearest")


@pytest.fixture
def diffusers_forward(monkeypatch):
    import diffusers.models.transformers.transformer_cosmos as cosmos

    if not hasattr(cosmos, "transforms"):
        monkeypatch.setattr(cosmos, "transforms", _NearestResizeStandIn, raising=False)
    return cosmos


def _inputs(backbone, batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    frames, h, w = 3, 8, 8
    cond = torch.randn(batch, 16, 1, h, w, generator=gen)
    future = torch.randn(batch, 16, frames - 1, h, w, generator=gen)
    prompt = torch.randn(batch, 40, backbone.transformer.config.crossattn_proj_in_channels, generator=gen)
    latents = torch.cat([cond, future], dim=2)
    mask = torch.zeros(batch, 1, frames, h, w)
    mask[:, :, 0] = 1
    timestep = torch.full((batch, 1, frames, 1, 1), backbone.tau_f)
    timestep[:, :, 0] = backbone.cond_timestep
    return cond, future, prompt, latents, mask, timestep, torch.zeros(1, 1, 8 * h, 8 * w)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # diffusers scheduler init on NumPy 2
def test_tau_f_is_the_one_step_unipc_sigma():
    assert feature_timestep() == pytest.approx(200 / 201, abs=1e-7)
    assert round(feature_timestep(), 6) == 0.995025
    for steps in (1, 2, 4):  # sigmas[0] does not depend on the step count (model_spec §2)
        scheduler = UniPCMultistepScheduler(
            use_karras_sigmas=True,
            use_flow_sigmas=True,
            prediction_type="flow_prediction",
            sigma_max=200.0,
            sigma_min=0.01,
        )
        scheduler.set_timesteps(steps)
        assert float(scheduler.sigmas[0]) == feature_timestep()
    assert int(scheduler.timesteps[0]) == 995


def test_early_exit_equals_the_hooked_full_forward(tiny_policy, diffusers_forward):
    backbone = tiny_policy.backbone
    cond, future, prompt, latents, mask, timestep, padding = _inputs(backbone)
    captured = []
    k = backbone.extract_layer
    handle = backbone.transformer.transformer_blocks[k].register_forward_hook(
        lambda m, i, o: captured.append(o)
    )
    with torch.no_grad():
        full = backbone.transformer(
            hidden_states=latents,
            condition_mask=mask,
            timestep=timestep,
            encoder_hidden_states=prompt,
            padding_mask=padding,
            return_dict=False,
        )[0]
    handle.remove()
    calls = []
    later = backbone.transformer.transformer_blocks[k + 1].register_forward_hook(
        lambda m, i, o: calls.append(1)
    )
    features = backbone.extract(cond, future, backbone.context_kv(prompt))
    later.remove()
    assert features.shape == (2, 3 * 4 * 4, backbone.transformer.config.num_attention_heads * 32)
    assert not calls, "blocks after k must not run"
    assert not features.requires_grad
    assert torch.equal(features, captured[0])
    # the complete forward re-implemented for the video loss equals diffusers' output too
    with torch.no_grad():
        inputs = cf.embed_inputs(backbone.transformer, latents, mask, timestep, padding)
        assert torch.equal(cf.full_forward(backbone.transformer, inputs, prompt), full)


def test_prompt_kv_cached_per_prompt_equals_batched(tiny_policy):
    backbone = tiny_policy.backbone
    cond, future, prompt, *_ = _inputs(backbone)
    batched = backbone.context_kv(prompt)
    singles = [backbone.context_kv(prompt[i : i + 1]) for i in range(2)]
    stacked = [
        (torch.cat([s[j][0] for s in singles]), torch.cat([s[j][1] for s in singles]))
        for j in range(len(batched))
    ]
    torch.testing.assert_close(
        backbone.extract(cond, future, stacked), backbone.extract(cond, future, batched)
    )


def test_one_frame_vae_equals_latent_zero_of_the_padded_encode(tiny_policy):
    backbone = tiny_policy.backbone
    gen = torch.Generator().manual_seed(1)
    frame = torch.rand(2, 3, 64, 64, generator=gen) * 2 - 1
    padded = torch.cat([frame.unsqueeze(2), torch.zeros(2, 3, 8, 64, 64)], dim=2)  # the authors' 1 + 8 zeros
    clip = torch.cat([frame.unsqueeze(2), torch.rand(2, 3, 8, 64, 64, generator=gen)], dim=2)  # a real clip
    mean1, std1 = backbone.encode(frame.unsqueeze(2))
    mean9, std9 = backbone.encode(padded)
    mean_clip, _ = backbone.encode(clip)
    assert mean1.shape == (2, 16, 1, 8, 8) and mean9.shape == (2, 16, 3, 8, 8)
    assert torch.equal(mean1, mean9[:, :, :1]) and torch.equal(std1, std9[:, :, :1])
    assert torch.equal(mean1, mean_clip[:, :, :1])  # causal: latent 0 sees pixel frame 0 only
    eps = torch.randn(2, 16, 1, 8, 8, generator=gen)
    assert torch.equal(backbone.encode_condition(frame, eps), backbone.condition_latent(mean9, std9, eps))


def test_latent_normalisation_uses_vae_config(tiny_policy):
    backbone = tiny_policy.backbone
    mean = torch.tensor(backbone.vae.config.latents_mean).view(1, 16, 1, 1, 1)
    std = torch.tensor(backbone.vae.config.latents_std).view(1, 16, 1, 1, 1)
    x = torch.randn(1, 16, 2, 3, 3)
    torch.testing.assert_close(backbone.normalize(x), (x - mean) / std)
    # the Wan2.1 values of model_spec §1.4 (diffusers' pipeline attribute is 1/σ from 0.39 on)
    assert backbone.vae.config.latents_std[0] == pytest.approx(2.8184)


def test_video_loss_target_and_frames(tiny_policy, monkeypatch):
    import dit4dit_policy.model.video_backbone as vb

    backbone = tiny_policy.backbone
    cond, _future, prompt, x0, *_ = _inputs(backbone)
    seen = {}
    make_inputs = backbone._inputs

    def record_inputs(cond_in, future_in, tau_in):
        seen.update(cond=cond_in, future=future_in, tau=tau_in)
        return make_inputs(cond_in, future_in, tau_in)

    def perfect_model(transformer, inputs, prompt_embeds, checkpoint=False):
        # A model that predicts v* = z − x0 = (x_τ − x0)/τ on the future frames and garbage on the
        # condition frame: the loss must vanish, so only future frames with this target count.
        tau = seen["tau"].view(-1, 1, 1, 1, 1)
        future_v = (seen["future"] - x0[:, :, 1:]) / tau
        return torch.cat([torch.full_like(x0[:, :, :1], 1e6), future_v], dim=2)

    monkeypatch.setattr(backbone, "_inputs", record_inputs)
    monkeypatch.setattr(vb.cf, "full_forward", perfect_model)
    loss = backbone.video_loss(x0, cond, prompt)
    assert loss.item() < 1e-8
    assert torch.equal(seen["cond"], cond)  # condition frame pinned (timestep 1e-4 in _inputs)
    assert seen["tau"].shape == (2,) and seen["future"].shape == x0[:, :, 1:].shape
    monkeypatch.setattr(vb.cf, "full_forward", lambda t, i, p, checkpoint=False: torch.zeros_like(x0))
    assert backbone.video_loss(x0, cond, prompt).item() > 0.1


def test_activation_checkpointing_gives_the_same_loss_and_gradients(tiny_config):
    from dit4dit_policy.model.build import build_policy

    policy = build_policy(tiny_config(), None).train()
    backbone = policy.backbone
    cond, _future, prompt, x0, *_ = _inputs(backbone)
    results = []
    for enabled in (False, True):
        policy.set_gradient_checkpointing(enabled)
        backbone.transformer.zero_grad()
        torch.manual_seed(0)
        loss = backbone.video_loss(x0, cond, prompt)
        loss.backward()
        results.append((loss.detach(), backbone.transformer.proj_out.weight.grad.clone()))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=0, atol=0)
    torch.testing.assert_close(results[0][1], results[1][1])


def test_bf16_timesteps_are_cast_like_the_authors_and_match_the_reference(tiny_config, monkeypatch):
    """``Cosmos25.py`` casts σ (and τ_v) to the transformer dtype, then mixes it with the fp32 1e-4 of
    the condition frame: with a bf16 DiT the transformer sees τ_f = bf16(200/201) = 0.99609375."""
    import dit4dit_policy.model.video_backbone as vb
    from dit4dit_policy.model.build import build_policy
    from dit4dit_policy.model.reference import reference_noise, reference_sample

    policy = build_policy(tiny_config("--dtype=bfloat16"), None).eval()
    backbone = policy.backbone
    assert backbone.dtype == torch.bfloat16
    tau_bf16 = torch.tensor(200 / 201).to(torch.bfloat16).item()
    assert tau_bf16 == 0.99609375 and backbone.tau_f != tau_bf16  # the cast matters in bf16
    fed = []  # the timestep argument of every time_embed call
    handle = backbone.transformer.time_embed.register_forward_pre_hook(
        lambda _module, args: fed.append(args[1].detach().clone())
    )
    gen = torch.Generator().manual_seed(0)
    frame, state = torch.rand(1, 3, 64, 64, generator=gen) * 2 - 1, torch.randn(1, 64, generator=gen)
    noise = policy.draw_noise(1, seed=0)
    vae_eps, latents = reference_noise(policy, noise, gen)
    try:
        ref = reference_sample(policy, frame, state, ["fold the towel"], vae_eps, latents, noise.action)
        ours = policy.sample_model_space(frame, state, ["fold the towel"], noise)
        # video loss: τ_v rounded to bf16 in the timestep (fixed τ_v = 0.3, not representable in bf16)
        monkeypatch.setattr(vb.fm, "sample_video_time", lambda batch, **_: torch.full((batch,), 0.3))
        cond, _future, prompt, x0, *_ = _inputs(backbone, batch=1)
        with torch.no_grad():
            backbone.video_loss(x0, cond, prompt)
    finally:
        handle.remove()
    assert len(fed) == 3 and all(t.dtype == torch.float32 for t in fed)
    expected = torch.tensor([1e-4, tau_bf16, tau_bf16])  # condition frame stays fp32 1e-4
    assert torch.equal(fed[0], expected), fed[0]  # the authors' path (model/reference.py)
    assert torch.equal(fed[1], expected), fed[1]  # our early-exit path
    assert torch.equal(fed[2], torch.tensor([1e-4, 0.30078125, 0.30078125])), fed[2]
    assert torch.equal(ours, ref)  # same chunk in bf16 too (condition latent drawn in the VAE dtype)
