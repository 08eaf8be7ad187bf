"""Development C2PA certificate chain: root CA → intermediate CA → ES256 leaf.

A fresh install must sign real, verifiable manifests without an operator buying a
certificate first, so the service generates this chain on first run (and `imgen certs
init` exposes it). c2pa-rs is strict about certificate profiles: the extensions below
are the ones it accepts (see FACTS.md); a self-signed leaf signs but never reads as
trusted, which is why there is a separate root that verifiers can pin.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CHAIN_FILE = "chain.pem"
KEY_FILE = "signing.key"
ROOT_FILE = "root.pem"

_ORGANIZATION = "imgen development"
_ROOT_DAYS = 3650
_INTERMEDIATE_DAYS = 1825
_LEAF_DAYS = 825


@dataclass(frozen=True)
class CertPaths:
    """Where a signing chain lives: what the signer and verifiers load."""

    chain: Path
    key: Path
    root: Path


def dev_chain_paths(directory: Path) -> CertPaths:
    """The file names `init_dev_chain` writes inside ``directory``."""
    return CertPaths(directory / CHAIN_FILE, directory / KEY_FILE, directory / ROOT_FILE)


def init_dev_chain(directory: Path, force: bool = False) -> CertPaths:
    """Write a dev chain into ``directory`` unless a complete one is already there.

    Existing files are kept (re-running never invalidates images already signed)
    unless ``force`` is set. The private key is written 0600 before any byte of it
    lands on disk.
    """
    paths = dev_chain_paths(directory)
    if not force and all(p.is_file() for p in (paths.chain, paths.key, paths.root)):
        return paths
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)

    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("imgen Development Root CA")
    root = _ca_certificate(root_name, root_key, root_name, root_key, now, _ROOT_DAYS, path_length=1)

    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = _ca_certificate(
        _name("imgen Development Intermediate CA"),
        inter_key,
        root_name,
        root_key,
        now,
        _INTERMEDIATE_DAYS,
        path_length=0,
    )

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _leaf_certificate(leaf_key, inter, inter_key, now)

    pem = serialization.Encoding.PEM
    chain_pem = leaf.public_bytes(pem) + inter.public_bytes(pem)
    key_pem = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_private(paths.key, key_pem)
    paths.chain.write_bytes(chain_pem)
    paths.root.write_bytes(root.public_bytes(pem))
    return paths


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
        ]
    )


def _ca_certificate(
    subject: x509.Name,
    subject_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
    days: int,
    path_length: int,
) -> x509.Certificate:
    public = subject_key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
        .sign(issuer_key, hashes.SHA256())
    )


def _leaf_certificate(
    leaf_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
) -> x509.Certificate:
    public = leaf_key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_name("imgen Development Signer"))
        .issuer_name(issuer.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=_LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
        .sign(issuer_key, hashes.SHA256())
    )


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 from the start, so the key is never world-readable."""
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
