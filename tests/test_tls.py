"""HTTPS MCP servers and registries through real processes: the certificate is checked against
the CA store that `SSL_CERT_FILE` names, by the live checks (fastmcp's transport, on our client
factory) and by the gateway's own calls (one plain HTTP exchange), all on one shared TLS context,
and by the registry client. A server whose certificate no trusted CA signed is refused as a
connection failure, never reached; such a registry is a 502.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import signal
import ssl
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from gateway_support import PYTHON, SERVERS, put, serve, wait_for
from support import ServerProcess, cli_env, free_port

__all__ = ["serve"]  # fixtures

CALL = "/api/mcp/tools/{}/call"
REGISTRY_SCRIPT = Path(__file__).parent / "registries" / "fake_registry.py"
Pki = tuple[Path, Path, Path, Path]  # a CA, another CA, a certificate the first signed, its key


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, Any] | None
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer[0] if issuer else subject))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer[1].public_key() if issuer else public
            ),
            critical=False,
        )
    )


def make_ca(folder: Path, name: str) -> tuple[Path, ec.EllipticCurvePrivateKey]:
    """A self-signed CA: (its PEM file, its key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        _certificate(name, key, None)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    return _pem(folder / f"{name}.pem", cert), key


def make_server_cert(
    folder: Path, ca_name: str, ca_key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by the CA: (its PEM file, its key's PEM file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _certificate("127.0.0.1", key, (ca_name, ca_key))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_file = folder / "server-key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return _pem(folder / "server.pem", cert), key_file


def _answers_tls(port: int, ca: Path) -> bool:
    import socket

    context = ssl.create_default_context(cafile=str(ca))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """(a CA, another CA, a certificate for 127.0.0.1 the first signed, that certificate's key)."""
    folder = tmp_path_factory.mktemp("tls")
    ca, ca_key = make_ca(folder, "test-ca")
    other_ca, _ = make_ca(folder, "other-ca")
    cert, key = make_server_cert(folder, "test-ca", ca_key)
    return ca, other_ca, cert, key


@contextmanager
def _serving_tls(script: Path, pki: Pki) -> Iterator[int]:
    """`script PORT --certfile ... --keyfile ...` while the block runs, once it answers TLS:
    its port."""
    ca, _other, cert, key = pki
    port = free_port()
    proc = subprocess.Popen(
        [PYTHON, str(script), str(port), "--certfile", str(cert), "--keyfile", str(key)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: _answers_tls(port, ca), within=30)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def https_server(pki: Pki) -> Iterator[tuple[str, Path, Path]]:
    """http_tools.py over HTTPS: (its URL, the CA that signed it, another CA that did not)."""
    with _serving_tls(SERVERS / "http_tools.py", pki) as port:
        yield f"https://127.0.0.1:{port}/mcp", pki[0], pki[1]


@pytest.fixture(scope="module")
def https_registry(pki: Pki) -> Iterator[str]:
    """The fake registry over HTTPS, with the same certificate: its `main` registry's URL."""
    with _serving_tls(REGISTRY_SCRIPT, pki) as port:
        yield f"https://127.0.0.1:{port}/main"


def test_an_https_server_is_reached_when_its_ca_is_trusted_and_refused_when_not(
    serve: Callable[..., ServerProcess], https_server: tuple[str, Path, Path]
) -> None:
    url, ca, other_ca = https_server
    config = {"url": url, "transport": "http"}
    trusted = serve(env=cli_env(SSL_CERT_FILE=str(ca)))
    put(trusted, "secure", config)
    with trusted.client(timeout=60) as http:
        tested = http.post("/api/mcp/test", json={"config": config}).json()
        assert tested["ok"] is True, tested
        assert "echo" in {tool["name"] for tool in tested["tools"]}
        called = http.post(CALL.format("secure__echo"), json={"arguments": {"text": "hi"}})
        assert called.status_code == 200, called.text
        assert called.json()["content"] == [{"type": "text", "text": "hi"}]
    trusted.stop()

    untrusted = serve(env=cli_env(SSL_CERT_FILE=str(other_ca)))
    with untrusted.client(timeout=60) as http:
        tested = http.post("/api/mcp/test", json={"config": config}).json()
        assert tested["ok"] is False and tested["error_kind"] == "connection", tested
        tools = http.get("/api/settings/mcp-servers/secure/tools").json()
        assert tools["ok"] is False and tools["error_kind"] == "connection", tools
        called = http.post(CALL.format("secure__echo"), json={"arguments": {"text": "hi"}})
        assert called.json() == {
            "ok": False,
            "error": "cannot connect (ConnectError)",
            "error_kind": "connection",
        }


def test_an_https_registry_is_reached_when_its_ca_is_trusted_and_refused_when_not(
    serve: Callable[..., ServerProcess],
    pki: Pki,
    https_registry: str,
) -> None:
    """Registries take the same trust as httpx's default: the CA store SSL_CERT_FILE names."""
    ca, other_ca, _cert, _key = pki
    for trusted, status in ((other_ca, 502), (ca, 200)):
        server = serve(env=cli_env(SSL_CERT_FILE=str(trusted)))
        with server.client(timeout=60) as http:
            added = http.put("/api/settings/mcp-registries/secure", json={"url": https_registry})
            assert added.status_code in (200, 201), added.text
            listed = http.get("/api/mcp/registries/secure/servers")
            assert listed.status_code == status, listed.text
            if status == 200:
                assert listed.json()["servers"], listed.text
            else:
                assert "'secure'" in listed.json()["detail"], listed.text
        server.stop()
