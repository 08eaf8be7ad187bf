"""Turning settings into the loaded keys, certificates and pipeline the service runs with.

Kept apart from `main.py` so tests and benchmarks can build the exact production
pipeline from a `Settings` without starting a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from services.provenance.allocator import retain_freed_memory
from services.provenance.brand import BrandLimits, default_logo, load_brand_file
from services.provenance.c2pa_manifest import CreativeWork, ManifestSigner
from services.provenance.certs import init_dev_chain
from services.provenance.dwt_dct_svd import VectorisedDwtDctSvdCodec
from services.provenance.encode import EncoderTuning
from services.provenance.finalize import Finalizer
from services.provenance.invisible import DwtDctSvdCodec, WatermarkCodec, load_or_create_key
from services.provenance.registry import FingerprintRegistry, sqlite_url
from services.provenance.signing import CallbackSigner, PemKeySigner, SignerSource, local_es256_callback
from services.provenance.verify import VerifyLimits

if TYPE_CHECKING:
    from services.provenance.main import Settings


@dataclass
class ProvenanceState:
    """Everything a request needs, loaded once at startup."""

    finalizer: Finalizer
    codec: WatermarkCodec
    trust_anchor_pem: bytes
    watermark_threshold: float
    verify_limits: VerifyLimits
    max_image_pixels: int
    registry: FingerprintRegistry


def software_version() -> str:
    """The installed imgen version, recorded as the manifest's softwareAgent."""
    try:
        return metadata.version("imgen")
    except metadata.PackageNotFoundError:
        from imgen import __version__

        return __version__


def provenance_dir(settings: Settings) -> Path:
    return Path(settings.data_dir).expanduser() / "provenance"


def load_watermark_key(settings: Settings) -> bytes:
    """The configured hex key, else the key file (created on first run)."""
    configured = settings.watermark_key.get_secret_value().strip()
    if configured:
        try:
            key = bytes.fromhex(configured)
        except ValueError as exc:
            raise ValueError("watermark_key must be hex") from exc
        if len(key) < 16:
            raise ValueError("watermark_key must hold at least 16 bytes")
        return key
    return load_or_create_key(settings.watermark_key_path or provenance_dir(settings) / "watermark.key")


def load_signing_material(settings: Settings) -> tuple[bytes, bytes, bytes]:
    """(chain PEM, key PEM, trust anchor PEM) from the settings, or the dev chain."""
    chain_path, key_path = settings.c2pa_chain_path, settings.c2pa_key_path
    if bool(chain_path) != bool(key_path):
        raise ValueError("set both c2pa_chain_path and c2pa_key_path, or neither")
    if chain_path and key_path:
        anchor_path = settings.c2pa_trust_anchor_path
        anchor = anchor_path.read_bytes() if anchor_path else b""
        return chain_path.read_bytes(), key_path.read_bytes(), anchor
    dev = init_dev_chain(provenance_dir(settings) / "certs")
    anchor_path = settings.c2pa_trust_anchor_path or dev.root
    return dev.chain.read_bytes(), dev.key.read_bytes(), anchor_path.read_bytes()


def fingerprint_database_url(settings: Settings) -> str:
    """The configured index database, or SQLite under the data directory."""
    return settings.fingerprint_database_url or sqlite_url(provenance_dir(settings) / "fingerprints.sqlite3")


def build_signer(settings: Settings, chain_pem: bytes, key_pem: bytes) -> ManifestSigner:
    """The manifest signer the `c2pa_signing` setting asks for, with the optional TSA."""
    tsa_url = settings.c2pa_tsa_url.strip() or None
    if settings.c2pa_signing == "key":
        source: SignerSource = PemKeySigner(chain_pem, key_pem, tsa_url)
    elif settings.c2pa_signing == "callback":
        source = CallbackSigner(chain_pem, local_es256_callback(key_pem), tsa_url)
    else:
        raise ValueError(f"c2pa_signing must be 'key' or 'callback', not {settings.c2pa_signing!r}")
    return ManifestSigner(chain_pem, key_pem, software_version(), source=source)


def build_codec(name: str) -> WatermarkCodec:
    """The configured dwtDctSvd implementation; both read each other's marks."""
    if name == "vectorised":
        return VectorisedDwtDctSvdCodec()
    if name == "imwatermark":
        return DwtDctSvdCodec()
    raise ValueError(f"watermark_codec must be 'vectorised' or 'imwatermark', not {name!r}")


def build_state(settings: Settings) -> ProvenanceState:
    """Load keys and certificates (generating dev ones when none are configured)."""
    retain_freed_memory()  # Finalize's temporaries reuse memory instead of page-faulting
    limits = BrandLimits(max_bytes=settings.brand_max_bytes, max_pixels=settings.brand_max_pixels)
    logo = None
    if settings.brand_default_enabled:
        logo = (
            load_brand_file(settings.brand_image_path, limits)
            if settings.brand_image_path
            else default_logo()
        )
    chain_pem, key_pem, anchor_pem = load_signing_material(settings)
    codec = build_codec(settings.watermark_codec)
    finalizer = Finalizer(
        codec=codec,
        watermark_key=load_watermark_key(settings),
        signer=build_signer(settings, chain_pem, key_pem),
        default_credentials=CreativeWork(
            author=settings.default_author,
            title=settings.default_title,
            description=settings.default_description,
            organization=settings.default_organization,
            vendor=settings.default_vendor,
        ),
        default_logo=logo,
        brand_limits=limits,
        tuning=EncoderTuning(
            png_compress_level=settings.png_compress_level,
            webp_method=settings.webp_method,
            webp_lossless_method=settings.webp_lossless_method,
            avif_speed=settings.avif_speed,
        ),
        thumbnail_size=settings.thumbnail_size,
    )
    return ProvenanceState(
        finalizer=finalizer,
        codec=codec,
        trust_anchor_pem=anchor_pem,
        watermark_threshold=settings.watermark_threshold,
        verify_limits=VerifyLimits(
            max_bytes=settings.verify_max_bytes,
            max_pixels=settings.max_image_pixels,
            match_distance=settings.verify_match_distance,
        ),
        max_image_pixels=settings.max_image_pixels,
        registry=FingerprintRegistry(fingerprint_database_url(settings)),
    )
