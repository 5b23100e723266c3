"""``dit4dit cache-prompts``: precompute the text embeddings of a task list (once, off the robot).

``--text-encoder`` is either a policy checkpoint directory (its own text encoder; the cache goes
to ``<checkpoint>/prompt_cache`` unless ``--cache-dir`` is given), a Cosmos-Predict2.5-2B
directory (its ``text_encoder/`` and ``tokenizer/``) or a Qwen2.5-VL model directory. The policy
finds the entries by (encoder id, revision, prompt, max length), so the 7 B encoder never has to
be loaded where the prompts are cached.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

COMMAND = ("cache-prompts",)
HELP = "precompute and cache the prompt embeddings of a list of task instructions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument(
        "--tasks", type=Path, required=True, help="text file, one instruction per line (or a JSON list)"
    )
    parser.add_argument(
        "--text-encoder",
        type=Path,
        required=True,
        help="checkpoint dir, Cosmos-Predict2.5-2B dir or Qwen2.5-VL dir",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="cache directory (default: <checkpoint>/prompt_cache)"
    )
    parser.add_argument("--device", default="cpu", help="torch device for the encoder (default cpu)")
    parser.add_argument(
        "--max-length", type=int, default=512, help="prompt tokens for a pretrained encoder (default 512)"
    )


def read_tasks(path: Path) -> list[str]:
    """Instructions from ``path``: a JSON list of strings, or one per line (blank and ``#`` lines skipped).

    Raises:
        Dit4ditError (ConfigError): missing file, malformed JSON or no instruction.
    """
    from dit4dit_policy.errors import ConfigError

    if not path.is_file():
        raise ConfigError(f"task file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            tasks = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"task file {path} is not valid JSON: {exc}") from exc
        if not isinstance(tasks, list) or not all(isinstance(t, str) and t.strip() for t in tasks):
            raise ConfigError(f"task file {path} must hold a JSON list of non-empty strings")
    else:
        tasks = [
            line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
        ]
    if not tasks:
        raise ConfigError(f"task file {path} holds no instruction (expected one per line)")
    return list(dict.fromkeys(tasks))


def run(args: argparse.Namespace) -> int:
    """Encode every task not yet cached and write it to the cache."""
    from dit4dit_policy.errors import ConfigError
    from dit4dit_policy.model.checkpoint import CONTRACT, PROMPTS, load_policy
    from dit4dit_policy.model.config import COSMOS_REVISION, TextEncoderConfig
    from dit4dit_policy.model.prompt_cache import PromptCache, prompt_key
    from dit4dit_policy.model.text_encoder import PromptEncoder

    tasks = read_tasks(args.tasks)
    source = args.text_encoder
    if (source / CONTRACT).is_file():
        policy = load_policy(source, device=args.device, require_stats=False)
        encoder = policy.text_encoder
        cache_dir = args.cache_dir or source / PROMPTS
    else:
        if args.cache_dir is None:
            raise ConfigError("--cache-dir is required when --text-encoder is not a policy checkpoint")
        model_dir = source / "text_encoder" if (source / "text_encoder" / "config.json").is_file() else source
        encoder = PromptEncoder.from_pretrained(model_dir, TextEncoderConfig(max_length=args.max_length))
        encoder.to(args.device)
        cache_dir = args.cache_dir
    cache = PromptCache(cache_dir, capacity=len(tasks))
    cfg = encoder.cfg
    keys = {
        t: prompt_key(encoder.encoder_id, COSMOS_REVISION, t, cfg.max_length, cfg.system_prompt)
        for t in tasks
    }
    todo = [t for t in tasks if cache.get(keys[t], t) is None]
    for task in todo:
        cache.put(keys[task], task, encoder.encode([task])[0], encoder.encoder_id)
    cached = len(tasks) - len(todo)
    print(f"{len(tasks)} instruction(s): {len(todo)} encoded, {cached} already cached in {cache_dir}")
    return 0
