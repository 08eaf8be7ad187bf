"""TLS and mutual TLS of the shared bootstrap, with a CA and certificates made in the test."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from imgen.storage.v1 import storage_pb2
from services.shared.channels import open_channel
from services.shared.server import ServiceRuntime, service_name
from services.shared.settings import ServiceSettings
from services.shared.tls import TlsConfigError, server_credentials


class _Settings(ServiceSettings):
    section: ClassVar[str] = "tls_test"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    (directory / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / f"{stem}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    directory = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("imgen test CA"))
        .issuer_name(_name("imgen test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(directory, "ca", ca, ca_key)

    def leaf(stem: str, usage: x509.ObjectIdentifier) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(f"imgen {stem}"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write(directory, stem, cert, key)

    leaf("server", ExtendedKeyUsageOID.SERVER_AUTH)
    leaf("client", ExtendedKeyUsageOID.CLIENT_AUTH)
    return directory


async def _serve(settings: _Settings) -> tuple[ServiceRuntime, asyncio.Task[None]]:
    runtime = ServiceRuntime("tls-test", settings)
    started = asyncio.Event()

    async def mark() -> None:
        started.set()

    runtime.on_startup(mark)
    task = asyncio.create_task(runtime.run([service_name(storage_pb2, "StorageService")]))
    await asyncio.wait_for(started.wait(), 10)
    return runtime, task


@pytest.fixture
async def tls_server(pki: Path) -> AsyncIterator[int]:
    runtime, task = await _serve(
        _Settings(
            port=0,
            shutdown_grace_s=0.2,
            tls_cert_path=str(pki / "server.pem"),
            tls_key_path=str(pki / "server.key"),
        )
    )
    yield runtime.bound_port
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def mtls_server(pki: Path) -> AsyncIterator[int]:
    runtime, task = await _serve(
        _Settings(
            port=0,
            shutdown_grace_s=0.2,
            tls_cert_path=str(pki / "server.pem"),
            tls_key_path=str(pki / "server.key"),
            tls_ca_path=str(pki / "ca.pem"),
            tls_require_client_cert=True,
        )
    )
    yield runtime.bound_port
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _check(port: int, settings: _Settings) -> int:
    channel = open_channel(f"127.0.0.1:{port}", settings, timeout=3)
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        return int(reply.status)
    finally:
        await channel.close()


async def test_tls_server_answers_a_client_that_trusts_the_ca(tls_server: int, pki: Path) -> None:
    status = await _check(tls_server, _Settings(tls_ca_path=str(pki / "ca.pem")))
    assert status == health_pb2.HealthCheckResponse.SERVING


async def test_tls_server_refuses_a_plaintext_client(tls_server: int) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _check(tls_server, _Settings())
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mtls_server_answers_a_client_with_a_certificate(mtls_server: int, pki: Path) -> None:
    client = _Settings(
        tls_ca_path=str(pki / "ca.pem"),
        tls_cert_path=str(pki / "client.pem"),
        tls_key_path=str(pki / "client.key"),
    )
    assert await _check(mtls_server, client) == health_pb2.HealthCheckResponse.SERVING


async def test_mtls_server_refuses_a_client_without_a_certificate(mtls_server: int, pki: Path) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _check(mtls_server, _Settings(tls_ca_path=str(pki / "ca.pem")))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_half_configured_tls_fails_at_startup(pki: Path) -> None:
    with pytest.raises(TlsConfigError, match="together"):
        server_credentials(_Settings(tls_cert_path=str(pki / "server.pem")))
    with pytest.raises(TlsConfigError, match="tls_ca_path"):
        server_credentials(
            _Settings(
                tls_cert_path=str(pki / "server.pem"),
                tls_key_path=str(pki / "server.key"),
                tls_require_client_cert=True,
            )
        )
    assert server_credentials(_Settings()) is None
