"""``dit4dit train-vae --config FILE [--key=value ...]``: train a from-scratch model's VAE on robot frames.

Only for presets built without pretrained weights (``tiny``): the paper's VAE is Wan2.1's,
pretrained and frozen. The result (``<output_dir>/vae``) is used by a policy run through
``model.vae.pretrained`` (config/train/demo_policy.yaml; docs/demo_policy/README.md).
"""

from __future__ import annotations

import argparse

COMMAND = ("train-vae",)
HELP = "train a from-scratch (tiny) model's VAE as an autoencoder on dataset frames"
ACCEPTS_OVERRIDES = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument(
        "--config", required=True, help="VAE training config YAML (config/train/vae/demo_policy.yaml)"
    )


def run(args: argparse.Namespace) -> int:
    """Train, print the measured reconstruction quality and where the VAE is."""
    from dit4dit_policy.train.vae import load_vae_train_config, train_vae

    cfg = load_vae_train_config(args.config, list(args.overrides))
    summary = train_vae(cfg)
    before, after = summary["random_init"], summary["trained"]
    print(
        f"trained the VAE for {summary['steps']} steps in {summary['train_seconds'] / 60:.1f} min: "
        f"held-out PSNR {before['psnr_db']:.1f} → {after['psnr_db']:.1f} dB, condition-latent "
        f"signal/noise (spread across frames / posterior std) {before['signal_to_noise']:.3f} → "
        f"{after['signal_to_noise']:.2f}"
    )
    print(f"vae: {summary['vae_dir']}")
    return 0
