"""Two-process CPU training (gloo): torchrun through the CLI, and accelerate launch with a DDP check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dit4dit_policy.train.metrics import read_metrics

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"model.image_size": "[32,32]", "model.video_delta_indices": "[0,1,2,3,4,5,6,7,8]"}

_SCRIPT = """
import json, sys
import torch
import torch.distributed as dist
from dit4dit_policy.train.config import load_train_config
from dit4dit_policy.train.trainer import Trainer

trainer = Trainer(load_train_config(sys.argv[1], sys.argv[3:]))
summary = trainer.fit()
checksum = float(sum(p.detach().double().sum() for p in trainer.policy.parameters()))
first_batch = trainer.sampler.batches(0)[0].tolist()
rows = [None] * dist.get_world_size()
row = [trainer.accelerator.process_index, summary["world_size"], checksum, first_batch]
dist.all_gather_object(rows, row)
if trainer.accelerator.is_main_process:
    json.dump(rows, open(sys.argv[2], "w"))
"""


def _env():
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(ROOT))
    return env


@pytest.mark.slow
def test_torchrun_two_processes_via_cli(train_dataset, tmp_path, tiny_overrides):
    out = tmp_path / "run"
    args = tiny_overrides(
        train_dataset, out, **SMALL, **{"train.max_steps": 5, "train.save_every": 5, "train.val_every": 5}
    )
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    result = subprocess.run(
        [
            torchrun,
            "--nproc-per-node",
            "2",
            "-m",
            "dit4dit_policy.cli",
            "train",
            "--config",
            "config/train/sim_tiny.yaml",
            *args,
        ],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((out / "checkpoints/step-0000005/trainer_state.json").read_text())
    assert state["world_size"] == 2 and state["step"] == 5
    assert (out / "checkpoints/step-0000005/random_states_1.pkl").is_file()  # rank 1 saved its RNG
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == [1, 2, 3, 4, 5]  # main process only
    assert result.stdout.count("trained to step 5") == 1
    assert (out / "policy" / "model.safetensors").is_file()


@pytest.mark.slow
def test_accelerate_launch_two_processes_stay_in_sync(train_dataset, tmp_path, tiny_overrides):
    script = tmp_path / "train_ddp.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    out = tmp_path / "run"
    args = tiny_overrides(
        train_dataset, out, **SMALL, **{"train.max_steps": 3, "train.save_every": 3, "train.val_every": 0}
    )
    accelerate = shutil.which("accelerate") or str(Path(sys.executable).parent / "accelerate")
    result_file = tmp_path / "ranks.json"
    result = subprocess.run(
        [
            accelerate,
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            str(script),
            "config/train/sim_tiny.yaml",
            str(result_file),
            *args,
        ],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = sorted(json.loads(result_file.read_text()))
    assert [r[0] for r in rows] == [0, 1] and all(r[1] == 2 for r in rows)  # a real 2-process world
    assert rows[0][2] == rows[1][2]  # identical weights after DDP steps: gradients were all-reduced
    assert rows[0][3] != rows[1][3]  # each rank trained on its own shard of the batch order
