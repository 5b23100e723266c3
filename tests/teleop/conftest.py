"""Fixtures of the teleop tests: a self-signed certificate and a running server on loopback."""

import pytest

from dit4dit_policy.teleop.cert import CertificatePaths, generate_certificate
from dit4dit_policy.teleop.server import ServerConfig, TeleopServer


@pytest.fixture(scope="session")
def teleop_cert(tmp_path_factory):
    directory = tmp_path_factory.mktemp("teleop_cert")
    return generate_certificate(
        CertificatePaths(directory / "cert.pem", directory / "key.pem"), ["127.0.0.1", "localhost"]
    )


@pytest.fixture
def teleop_server(teleop_cert):
    server = TeleopServer(
        ServerConfig(host="127.0.0.1", port=0, cert_file=str(teleop_cert.cert), key_file=str(teleop_cert.key))
    )
    server.start()
    yield server
    server.stop()
