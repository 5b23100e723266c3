import json

import pytest
import torch

from dit4dit_policy.cli import main as cli_main
from dit4dit_policy.model.build import build_policy
from dit4dit_policy.model.checkpoint import load_policy, save_checkpoint
from dit4dit_policy.model.text_encoder import PromptEncoder


@pytest.mark.slow
def test_bench_policy_tiny_json(capsys):
    assert cli_main.main(["bench", "policy", "--preset", "tiny", "--steps", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["max_abs_diff"] <= 1e-5 and result["speedup"] > 0
    assert set(result["reference_ms"]) == {"text", "vae", "video_dit", "action_dit", "total"}
    full = result["flops_cosmos25_2b"]
    # model_spec §6: ≈ 12.1 TFLOP per step as implemented vs ≈ 1.75 TFLOP for the same output
    assert 11.0 < full["reference"]["total_tflop"] < 13.5 and 1.5 < full["ours"]["total_tflop"] < 2.1
    assert full["ours"]["stages_tflop"]["text"] == 0 and full["ours_per_new_prompt_tflop"] > 6
    assert full["reference"]["stages_share"]["text"] == pytest.approx(0.595, abs=0.03)
    assert sum(full["ours"]["stages_share"].values()) == pytest.approx(1.0)


def test_cache_prompts_into_a_checkpoint(tiny_policy, tmp_path, observation, monkeypatch, capsys):
    ckpt = save_checkpoint(tiny_policy, tmp_path / "ckpt")
    tasks = tmp_path / "tasks.txt"
    tasks.write_text("# G1 tasks\nstack the cups\n\nopen the drawer\nstack the cups\n")
    assert cli_main.main(["cache-prompts", "--tasks", str(tasks), "--text-encoder", str(ckpt)]) == 0
    assert "2 encoded" in capsys.readouterr().out
    assert len(list((ckpt / "prompt_cache").iterdir())) == 2
    assert cli_main.main(["cache-prompts", "--tasks", str(tasks), "--text-encoder", str(ckpt)]) == 0
    assert "0 encoded, 2 already cached" in capsys.readouterr().out
    policy = load_policy(ckpt)
    monkeypatch.setattr(policy.text_encoder, "encode", lambda p: pytest.fail(f"encoded {p}"))
    policy.predict_action_chunk(observation(batch=2, tasks=["open the drawer", "stack the cups"]), seed=0)


def test_bench_rejects_bad_arguments(capsys):
    assert cli_main.main(["bench", "policy", "--preset", "tiny", "--steps", "0"]) == 1
    assert "--steps and --warmup must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["bench", "policy", "--preset", "huge"])
    assert exc.value.code == 2


def test_cache_prompts_errors(tmp_path, capsys):
    assert cli_main.main(["cache-prompts", "--tasks", str(tmp_path / "none.txt"), "--text-encoder", "x"]) == 1
    assert "does not exist" in capsys.readouterr().err
    tasks = tmp_path / "t.json"
    tasks.write_text('["a", 3]')
    assert cli_main.main(["cache-prompts", "--tasks", str(tasks), "--text-encoder", str(tmp_path)]) == 1
    assert "JSON list of non-empty strings" in capsys.readouterr().err
    tasks.write_text('["a"]')
    assert cli_main.main(["cache-prompts", "--tasks", str(tasks), "--text-encoder", str(tmp_path)]) == 1
    assert "--cache-dir is required" in capsys.readouterr().err


def test_pretrained_encoder_is_never_loaded_for_cached_prompts(
    tmp_path, tiny_config, g1_stats, observation, capsys
):
    # A Cosmos-style directory: text_encoder/ (transformers weights) + tokenizer/ (tokenizer files).
    cfg = tiny_config()
    source = PromptEncoder.from_config(cfg.text, seed=9)
    source.model.save_pretrained(tmp_path / "cosmos" / "text_encoder")
    source.tokenizer.save_pretrained(tmp_path / "cosmos" / "tokenizer")
    tasks = tmp_path / "tasks.txt"
    tasks.write_text("wipe the table\n")
    cache_dir = tmp_path / "cache"
    args = ["cache-prompts", "--tasks", str(tasks), "--text-encoder", str(tmp_path / "cosmos"), "--cache-dir"]
    assert cli_main.main([*args, str(cache_dir), "--max-length", str(cfg.text.max_length)]) == 0
    policy = build_policy(
        tiny_config(f"--text.pretrained={tmp_path / 'cosmos' / 'text_encoder'}"),
        g1_stats,
        prompt_cache_dir=cache_dir,
    ).eval()
    policy.predict_action_chunk(observation(tasks=["wipe the table"]), seed=0)
    assert not policy.text_encoder.loaded  # served from the cache
    cached = policy.prompt_embeddings(["wipe the table"])
    policy.predict_action_chunk(observation(tasks=["a new instruction"]), seed=0)
    assert policy.text_encoder.loaded  # loaded lazily for the first uncached prompt
    assert torch.equal(policy.text_encoder.encode(["wipe the table"]), cached)  # same weights, same embedding
