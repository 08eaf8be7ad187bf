"""Signing sources: the callback path a KMS/HSM uses, and the timestamp authority setting."""

from __future__ import annotations

import io
from collections.abc import Callable

import c2pa
import pytest
from PIL import Image

from services.provenance.c2pa_manifest import CreativeWork, GenerationFacts, ManifestSigner, verify_manifest
from services.provenance.certs import CertPaths
from services.provenance.main import Settings
from services.provenance.signing import CallbackSigner, PemKeySigner, local_es256_callback
from services.provenance.state import build_signer

WORK = CreativeWork("Ada", "Harbour", "", "", "")
FACTS = GenerationFacts("k3j9x0a7b2c4d6e8f1g5", "eros", "professional", 1)


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (40, 90, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_callback_signer_signs_through_our_callback_and_reads_trusted(dev_chain: CertPaths) -> None:
    calls: list[int] = []
    sign = local_es256_callback(dev_chain.key.read_bytes())

    def counting(data: bytes) -> bytes:
        calls.append(len(data))
        return sign(data)

    source = CallbackSigner(dev_chain.chain.read_bytes(), counting)
    signed = ManifestSigner(b"", b"", "1.0", source=source).sign(jpeg(), "image/jpeg", WORK, FACTS)
    assert calls and calls[0] > 0  # c2pa asked our callback for the signature
    assert verify_manifest(signed, "image/jpeg", dev_chain.root.read_bytes()).state == "Trusted"


def test_a_callback_returning_a_wrong_signature_fails_the_signing(dev_chain: CertPaths) -> None:
    source = CallbackSigner(dev_chain.chain.read_bytes(), lambda data: bytes(64))
    with pytest.raises(c2pa.C2paError, match="signature"):  # checked at signing: nothing bad ships
        ManifestSigner(b"", b"", "1.0", source=source).sign(jpeg(), "image/jpeg", WORK, FACTS)


def test_callback_needs_a_p256_key() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="P-256"):
        local_es256_callback(pem)


def test_settings_choose_the_source_and_pass_the_timestamp_authority(
    settings_factory: Callable[..., Settings], dev_chain: CertPaths
) -> None:
    chain, key = dev_chain.chain.read_bytes(), dev_chain.key.read_bytes()
    tsa = "http://tsa.example.test/rfc3161"
    by_key = build_signer(settings_factory(c2pa_tsa_url=tsa), chain, key)
    assert isinstance(by_key.source, PemKeySigner) and by_key.source.tsa_url == tsa
    by_callback = build_signer(settings_factory(c2pa_signing="callback", c2pa_tsa_url=tsa), chain, key)
    assert isinstance(by_callback.source, CallbackSigner) and by_callback.source.tsa_url == tsa
    assert build_signer(settings_factory(), chain, key).source.tsa_url is None  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="c2pa_signing"):
        build_signer(settings_factory(c2pa_signing="hsm"), chain, key)
