"""Dev certificate chain and C2PA manifests: signed files read back Trusted; tampering reads Invalid."""

from __future__ import annotations

import io
import json
import stat

import pytest
from cryptography import x509
from PIL import Image

from services.provenance.c2pa_manifest import (
    DIGITAL_SOURCE_TYPE,
    GENERATION_LABEL,
    CreativeWork,
    GenerationFacts,
    ManifestSigner,
    verify_manifest,
)
from services.provenance.certs import CertPaths, init_dev_chain
from tests.provenance.conftest import textured_frame

WORK = CreativeWork("Ada", "Harbour at dusk", "A test render", "Example Org", "Example Vendor")
FACTS = GenerationFacts(gen_id="k3j9x0a7b2c4d6e8f1g5", model="eros", style="professional", seed=1234)


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(textured_frame(320, 200, seed=5)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def signer(dev_chain: CertPaths) -> ManifestSigner:
    return ManifestSigner(dev_chain.chain.read_bytes(), dev_chain.key.read_bytes(), "9.9.9")


def test_dev_chain_files_and_extensions(dev_chain: CertPaths) -> None:
    assert stat.S_IMODE(dev_chain.key.stat().st_mode) == 0o600
    leaf, intermediate = x509.load_pem_x509_certificates(dev_chain.chain.read_bytes())
    root = x509.load_pem_x509_certificate(dev_chain.root.read_bytes())
    assert leaf.issuer == intermediate.subject and intermediate.issuer == root.subject
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).critical
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    for cert in (intermediate, root):
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


def test_init_keeps_an_existing_chain_unless_forced(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = init_dev_chain(tmp_path)
    chain = first.chain.read_bytes()
    assert init_dev_chain(tmp_path).chain.read_bytes() == chain
    assert init_dev_chain(tmp_path, force=True).chain.read_bytes() != chain


@pytest.mark.parametrize(
    ("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_signed_file_reads_trusted_with_our_anchor(
    signer: ManifestSigner, dev_chain: CertPaths, fmt: str, mime: str
) -> None:
    signed = signer.sign(_encoded(fmt), mime, WORK, FACTS)
    result = verify_manifest(signed, mime, dev_chain.root.read_bytes())
    assert result.state == "Trusted", result.status_codes
    assert verify_manifest(signed, mime, None).state == "Valid"  # intact, but nobody vouches for the root
    with Image.open(io.BytesIO(signed)) as opened:
        assert opened.size == (320, 200)


def test_manifest_records_creation_credentials_and_generation(
    signer: ManifestSigner, dev_chain: CertPaths
) -> None:
    signed = signer.sign(_encoded("JPEG"), "image/jpeg", WORK, FACTS)
    manifest = json.loads(verify_manifest(signed, "image/jpeg", dev_chain.root.read_bytes()).manifest_json)
    assertions = {a["label"]: a["data"] for a in manifest["assertions"]}
    action = next(v for k, v in assertions.items() if k.startswith("c2pa.actions"))["actions"][0]
    assert action["action"] == "c2pa.created" and action["digitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert action["softwareAgent"] == {"name": "imgen", "version": "9.9.9"}
    work = assertions["stds.schema-org.CreativeWork"]
    assert work["author"][0]["name"] == "Ada" and work["name"] == "Harbour at dusk"
    assert work["description"] == "A test render"
    assert work["publisher"]["name"] == "Example Org" and work["provider"]["name"] == "Example Vendor"
    assert assertions[GENERATION_LABEL] == {
        "gen_id": "k3j9x0a7b2c4d6e8f1g5",
        "model": "eros",
        "style": "professional",
        "seed": 1234,
    }


def test_flipped_byte_reads_invalid(signer: ManifestSigner, dev_chain: CertPaths) -> None:
    signed = bytearray(signer.sign(_encoded("JPEG"), "image/jpeg", WORK, FACTS))
    signed[-200] ^= 0xFF  # inside the entropy-coded pixels, covered by the data hash
    result = verify_manifest(bytes(signed), "image/jpeg", dev_chain.root.read_bytes())
    assert result.state == "Invalid"
    assert "assertion.dataHash.mismatch" in result.status_codes


def test_unsigned_file_reads_absent(dev_chain: CertPaths) -> None:
    result = verify_manifest(_encoded("PNG"), "image/png", dev_chain.root.read_bytes())
    assert (result.state, result.manifest_json) == ("Absent", "")


def test_chain_from_another_root_is_not_trusted(signer: ManifestSigner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    stranger = init_dev_chain(tmp_path)
    signed = signer.sign(_encoded("JPEG"), "image/jpeg", WORK, FACTS)
    assert verify_manifest(signed, "image/jpeg", stranger.root.read_bytes()).state == "Valid"
