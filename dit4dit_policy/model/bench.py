"""``dit4dit bench policy``: our per-step path vs the authors' path, same weights and noise, one process.

For each measured step both paths receive the same frame, state, instruction and noise
(:func:`~dit4dit_policy.model.reference.reference_noise` extends ours to the authors' shapes);
the report gives per-stage median wall-clock milliseconds, the speed ratio of the medians of the
totals (also best-of-N and in process CPU time: other processes on a shared machine disturb
those less), the
largest absolute difference between the two normalised chunks, and the FLOPs per step of both
paths at the chosen preset and at the full ``cosmos25_2b`` config with each stage's share.

Our path is timed in steady state: its first call (the warm-up) encodes the instruction and fills
the prompt caches, as ``dit4dit cache-prompts`` or the first control step does on the robot; that
first call's time is reported separately.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from dit4dit_policy.model.build import build_policy
from dit4dit_policy.model.config import preset_config
from dit4dit_policy.model.flops import StepFlops, count_step_flops
from dit4dit_policy.model.profiling import StageRecorder
from dit4dit_policy.model.reference import reference_noise, reference_sample

#: Instruction used by the benchmark.
DEFAULT_TASK = "pick up the red cup and put it on the plate"
STAGES = ("text", "vae", "video_dit", "action_dit")


def _flops_report(flops: StepFlops) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, table in (("reference", flops.reference), ("ours", flops.ours)):
        total = sum(table.values())
        out[name] = {
            "total_tflop": total / 1e12,
            "stages_tflop": {s: table.get(s, 0) / 1e12 for s in STAGES},
            "stages_share": {s: table.get(s, 0) / total if total else 0.0 for s in STAGES},
        }
    out["ratio"] = flops.ratio
    out["ours_per_new_prompt_tflop"] = sum(flops.ours_per_prompt.values()) / 1e12
    return out


def run_policy_bench(
    preset: str = "scaled", steps: int = 3, warmup: int = 1, seed: int = 0
) -> dict[str, Any]:
    """Run the benchmark on CPU (fp32) or wherever torch's default device is.

    Args:
        preset: model preset (``tiny`` or ``scaled``; any preset that fits in memory works).
        steps: measured steps.
        warmup: unmeasured steps first (≥ 1: fills our prompt cache).
        seed: seed of the weights, the inputs and the noise.

    Returns:
        JSON-ready dict (see ``format_report`` for the fields).

    Raises:
        ValueError: steps < 1 or warmup < 1.
    """
    if steps < 1 or warmup < 1:
        raise ValueError(f"steps and warmup must be >= 1, got steps={steps}, warmup={warmup}")
    cfg = preset_config(preset)
    started = time.perf_counter()
    policy = build_policy(cfg, None, seed=seed).eval()
    build_s = time.perf_counter() - started
    gen = torch.Generator().manual_seed(seed)
    height, width = cfg.image_size
    width *= len(policy.embodiment.video_keys)
    frame = torch.rand(1, 3, height, width, generator=gen) * 2 - 1
    state = torch.randn(1, cfg.state_dim, generator=gen)
    ref_ms: dict[str, list[float]] = {s: [] for s in STAGES}
    our_ms: dict[str, list[float]] = {s: [] for s in STAGES}
    ref_total, our_total, ref_cpu, our_cpu, diffs = [], [], [], [], []
    first_call_ms = None
    for step in range(warmup + steps):
        noise = policy.draw_noise(1, seed=seed + 1 + step)
        vae_eps, latents = reference_noise(policy, noise, gen)
        ref_rec, our_rec = StageRecorder(policy.device), StageRecorder(policy.device)
        ref_chunk = reference_sample(
            policy, frame, state, [DEFAULT_TASK], vae_eps, latents, noise.action, ref_rec
        )
        our_chunk = policy.sample_model_space(frame, state, [DEFAULT_TASK], noise, our_rec)
        if step == 0:
            first_call_ms = our_rec.total_ms
        if step < warmup:
            continue
        diffs.append(float((ref_chunk - our_chunk).abs().max()))
        ref_total.append(ref_rec.total_ms)
        our_total.append(our_rec.total_ms)
        ref_cpu.append(ref_rec.total_cpu_ms)
        our_cpu.append(our_rec.total_cpu_ms)
        for s in STAGES:
            ref_ms[s].append(ref_rec.ms.get(s, 0.0))
            our_ms[s].append(our_rec.ms.get(s, 0.0))
    ref_median, our_median = statistics.median(ref_total), statistics.median(our_total)
    return {
        "preset": preset,
        "device": str(policy.device),
        "dtype": str(policy.backbone.dtype).replace("torch.", ""),
        "threads": torch.get_num_threads(),
        "steps": steps,
        "warmup": warmup,
        "build_s": build_s,
        "parameters_m": sum(p.numel() for p in policy.parameters()) / 1e6,
        "reference_ms": {s: statistics.median(v) for s, v in ref_ms.items()} | {"total": ref_median},
        "ours_ms": {s: statistics.median(v) for s, v in our_ms.items()} | {"total": our_median},
        "ours_first_call_ms": first_call_ms,
        "speedup": ref_median / our_median,
        "speedup_best": min(ref_total) / min(our_total),
        "reference_cpu_ms": statistics.median(ref_cpu),
        "ours_cpu_ms": statistics.median(our_cpu),
        "speedup_cpu_time": statistics.median(ref_cpu) / statistics.median(our_cpu),
        "max_abs_diff": max(diffs),
        "flops_preset": _flops_report(count_step_flops(cfg)),
        "flops_cosmos25_2b": _flops_report(count_step_flops(preset_config("cosmos25_2b"))),
    }


def format_report(result: dict[str, Any]) -> str:
    """Human-readable table of :func:`run_policy_bench`'s result."""
    lines = [
        f"dit4dit bench policy — preset {result['preset']} ({result['parameters_m']:.2f} M params, "
        f"{result['device']} {result['dtype']}, {result['threads']} threads, {result['steps']} steps after "
        f"{result['warmup']} warm-up)",
        "",
        f"{'stage':<12}{'reference ms':>14}{'ours ms':>12}{'ratio':>9}",
    ]
    for stage in (*STAGES, "total"):
        ref, ours = result["reference_ms"][stage], result["ours_ms"][stage]
        ratio = f"{ref / ours:8.1f}x" if ours > 0 else "      --"
        lines.append(f"{stage:<12}{ref:>14.1f}{ours:>12.1f}{ratio:>9}")
    lines += [
        "",
        f"speed-up: {result['speedup']:.2f}x wall-clock (median total), {result['speedup_best']:.2f}x "
        f"(best of {result['steps']}), {result['speedup_cpu_time']:.2f}x process CPU time "
        f"({result['reference_cpu_ms']:.0f} vs {result['ours_cpu_ms']:.0f} ms)",
        f"ours, first call with an uncached prompt: {result['ours_first_call_ms']:.1f} ms",
        f"max |chunk_ref - chunk_ours|: {result['max_abs_diff']:.3g}  "
        f"({'identical within 1e-5' if result['max_abs_diff'] <= 1e-5 else 'DIFFERS (> 1e-5)'})",
    ]
    for key, title in (
        ("flops_preset", f"preset {result['preset']}"),
        ("flops_cosmos25_2b", "full cosmos25_2b"),
    ):
        table = result[key]
        lines += [
            "",
            f"FLOPs per step, {title}: reference {table['reference']['total_tflop']:.4g} TFLOP, "
            f"ours {table['ours']['total_tflop']:.4g} TFLOP → {table['ratio']:.2f}x fewer "
            f"(+{table['ours_per_new_prompt_tflop']:.4g} TFLOP once per new instruction)",
            f"{'  stage':<14}{'ref TFLOP':>11}{'share':>8}{'ours TFLOP':>12}{'share':>8}",
        ]
        for stage in STAGES:
            ref, ours = table["reference"], table["ours"]
            lines.append(
                f"  {stage:<12}{ref['stages_tflop'][stage]:>11.4g}{100 * ref['stages_share'][stage]:>7.1f}%"
                f"{ours['stages_tflop'][stage]:>12.4g}{100 * ours['stages_share'][stage]:>7.1f}%"
            )
    return "\n".join(lines)


__all__ = ["DEFAULT_TASK", "format_report", "run_policy_bench"]
