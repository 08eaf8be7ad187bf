"""TLS and mutual TLS between services, chosen by the shared settings.

Plaintext stays the default so a laptop mesh needs no certificates. A deployment that
crosses untrusted networks (or wants identity between services) sets the four
``tls_*`` fields once for the whole mesh: every server then listens with TLS and every
channel opened through :func:`services.shared.channels.open_channel` dials with it,
presenting the process's own certificate so servers that require one accept it.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from services.shared.settings import ServiceSettings


class TlsConfigError(ValueError):
    """The ``tls_*`` settings are incomplete or name unreadable files."""


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"cannot read {what} {path}: {exc}") from exc


def server_tls_enabled(settings: ServiceSettings) -> bool:
    """Whether servers listen with TLS (a certificate and its key are configured)."""
    return bool(settings.tls_cert_path and settings.tls_key_path)


def server_credentials(settings: ServiceSettings) -> grpc.ServerCredentials | None:
    """Credentials for ``add_secure_port``, or None for plaintext.

    Fails at startup, not at the first call, when the settings are half done: a
    certificate without a key, or client certificates required without a CA to check
    them against.
    """
    if bool(settings.tls_cert_path) != bool(settings.tls_key_path):
        raise TlsConfigError("tls_cert_path and tls_key_path must be set together")
    if not server_tls_enabled(settings):
        if settings.tls_require_client_cert:
            raise TlsConfigError("tls_require_client_cert needs tls_cert_path, tls_key_path and tls_ca_path")
        return None
    if settings.tls_require_client_cert and not settings.tls_ca_path:
        raise TlsConfigError("tls_require_client_cert needs tls_ca_path to verify client certificates")
    pair = (_read(settings.tls_key_path, "TLS key"), _read(settings.tls_cert_path, "TLS certificate"))
    roots = _read(settings.tls_ca_path, "TLS CA") if settings.tls_ca_path else None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=roots, require_client_auth=settings.tls_require_client_cert
    )


def channel_credentials(settings: ServiceSettings) -> grpc.ChannelCredentials | None:
    """Credentials for outgoing channels, or None for plaintext.

    TLS is on when a CA is configured (peers are verified against it); the process's
    own certificate, when it has one, goes along for servers requiring mutual TLS.
    """
    if not settings.tls_ca_path:
        return None
    has_identity = bool(settings.tls_cert_path and settings.tls_key_path)
    return grpc.ssl_channel_credentials(
        root_certificates=_read(settings.tls_ca_path, "TLS CA"),
        private_key=_read(settings.tls_key_path, "TLS key") if has_identity else None,
        certificate_chain=_read(settings.tls_cert_path, "TLS certificate") if has_identity else None,
    )
