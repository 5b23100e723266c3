"""Self-signed TLS certificate for the teleop server (WebXR needs a secure context: HTTPS + WSS).

Headset browsers (Quest Browser, visionOS Safari) only expose ``navigator.xr`` on secure origins,
so the page and its WebSocket are served over TLS. On a lab network there is no public name to
get a CA-signed certificate for; the operator accepts this self-signed one once per headset
(docs/teleop.md). The certificate names every host the operator will type (IP addresses and DNS
names as subjectAltName entries; browsers ignore the CN).

Files are written to temporary names and renamed; the private key is created with mode 0600.
Torch-free; uses ``cryptography``.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

#: Default directory of the teleop certificate and key.
DEFAULT_CERT_DIR = Path("~/.config/dit4dit/teleop")
CERT_NAME = "cert.pem"
KEY_NAME = "key.pem"


@dataclass(frozen=True)
class CertificatePaths:
    """Where a certificate and its key live.

    Attributes:
        cert: PEM certificate.
        key: PEM private key (mode 0600).
    """

    cert: Path
    key: Path


def default_paths(directory: str | Path | None = None) -> CertificatePaths:
    """Certificate and key paths in ``directory`` (default ``~/.config/dit4dit/teleop``)."""
    base = Path(directory if directory is not None else DEFAULT_CERT_DIR).expanduser()
    return CertificatePaths(base / CERT_NAME, base / KEY_NAME)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _alt_names(hosts: list[str]):  # -> list[x509.GeneralName]
    from cryptography import x509

    names: list = []
    for host in hosts:
        host = host.strip()
        if not host:
            raise ValueError("certificate host names must not be empty")
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def generate_certificate(
    paths: CertificatePaths,
    hosts: list[str],
    valid_days: int = 825,
    overwrite: bool = False,
) -> CertificatePaths:
    """Create a self-signed ECDSA P-256 certificate for ``hosts``.

    Args:
        paths: where to write the certificate and the key.
        hosts: IP addresses and/or DNS names the server is reached by (subjectAltName), e.g.
            ``["192.168.123.50", "127.0.0.1", "localhost"]``; the first one is the subject CN.
        valid_days: validity [days]; 825 is the longest Apple platforms accept for TLS server
            certificates.
        overwrite: replace existing files.

    Returns:
        ``paths``.

    Raises:
        FileExistsError: a file exists and ``overwrite`` is false.
        ValueError: no hosts, an empty host, or ``valid_days`` outside [1, 825].
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if not hosts:
        raise ValueError("generate_certificate needs at least one host name or IP address")
    if not 1 <= valid_days <= 825:
        raise ValueError(f"valid_days must be in [1, 825], got {valid_days}")
    for path in (paths.cert, paths.key):
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists (pass --overwrite to replace it)")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, hosts[0][:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dit4dit_policy teleop"),
        ]
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_atomic(paths.key, key_pem, 0o600)
    _write_atomic(paths.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return paths


def certificate_summary(cert_path: str | Path) -> dict[str, object]:
    """Subject alternative names, expiry and SHA-256 fingerprint of a PEM certificate.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a PEM certificate.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(v) for v in san.get_values_for_type(x509.IPAddress)]
        names += san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    return {
        "hosts": names,
        "not_valid_after": cert.not_valid_after_utc.isoformat(),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(":"),
    }
