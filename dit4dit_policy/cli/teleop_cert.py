"""``dit4dit teleop cert``: create the self-signed TLS certificate the WebXR teleop page is served with."""

from __future__ import annotations

import argparse

COMMAND = ("teleop", "cert")
HELP = "create the self-signed HTTPS certificate for the VR teleop page (WebXR needs HTTPS)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="ADDR",
        help="IP address or DNS name the headset uses to reach this machine (repeatable); "
        "127.0.0.1 and localhost are always added",
    )
    parser.add_argument(
        "--dir", default=None, help="output directory (default ~/.config/dit4dit/teleop): cert.pem, key.pem"
    )
    parser.add_argument("--days", type=int, default=825, help="validity in days (max 825)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing certificate")


def run(args: argparse.Namespace) -> int:
    """Write cert.pem/key.pem and print what the headset will be asked to accept."""
    from dit4dit_policy.teleop.cert import certificate_summary, default_paths, generate_certificate

    hosts = list(dict.fromkeys([*args.host, "127.0.0.1", "localhost"]))
    paths = generate_certificate(
        default_paths(args.dir), hosts, valid_days=args.days, overwrite=args.overwrite
    )
    summary = certificate_summary(paths.cert)
    print(f"certificate: {paths.cert}")
    print(f"private key: {paths.key} (mode 0600)")
    print(f"valid for:   {', '.join(summary['hosts'])} until {summary['not_valid_after']}")
    print(f"SHA-256:     {summary['sha256']}")
    print("Open the teleop URL once on the headset and accept this certificate (docs/teleop.md).")
    return 0
