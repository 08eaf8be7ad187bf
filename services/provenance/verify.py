"""Verify: what an image file proves about its origin.

Three independent signals, because each survives different treatment: the C2PA
manifest (cryptographic, but stripped by most re-uploads), the invisible watermark
(survives re-encoding and resizing, readable without metadata) and PDQ (survives
almost anything short of a crop, for matching against known fingerprints).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from services.provenance.c2pa_manifest import (
    ManifestSummary,
    ManifestVerification,
    summarize_manifest,
    verify_manifest,
)
from services.provenance.fingerprint import MATCH_DISTANCE, compute_pdq
from services.provenance.invisible import WatermarkCodec
from services.provenance.registry import FingerprintMatch, FingerprintRegistry, PayloadMatch
from services.shared.errors import InvalidArgument

MIME_BY_FORMAT = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "AVIF": "image/avif"}


@dataclass(frozen=True)
class VerifyLimits:
    """Bounds on what Verify will decode."""

    max_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 40_000_000
    #: Largest PDQ distance reported as a match (HMA's 31 by default).
    match_distance: int = MATCH_DISTANCE


@dataclass(frozen=True)
class VerifyResult:
    """Mirrors VerifyResponse."""

    c2pa: ManifestVerification
    watermark_found: bool
    watermark_payload: str
    watermark_confidence: float
    fingerprint: str
    fingerprint_quality: int
    mime_type: str
    summary: ManifestSummary | None = None
    watermark_match: PayloadMatch | None = None
    nearest_match: FingerprintMatch | None = None
    notes: list[str] = field(default_factory=list)


def verify_image(
    data: bytes,
    mime_type: str,
    codec: WatermarkCodec,
    trust_anchor_pem: bytes | None,
    watermark_threshold: float,
    limits: VerifyLimits | None = None,
    registry: FingerprintRegistry | None = None,
) -> VerifyResult:
    """Inspect ``data``; InvalidArgument when it is not a JPEG/PNG/WebP/AVIF image.

    With a ``registry``, the decoded payload and the PDQ are looked up in our index. A
    payload within a few bits of one we embedded counts as found even when the vote
    confidence is under the threshold (a heavily re-encoded copy): a chance match of
    64 keyed bits is far less likely than the threshold's own false-positive rate.
    """
    limits = limits or VerifyLimits()
    if not data:
        raise InvalidArgument("image data is required")
    if len(data) > limits.max_bytes:
        raise InvalidArgument(f"image is larger than {limits.max_bytes // (1024 * 1024)} MiB")
    rgb, detected_mime = _decode(data, limits)
    mime = detected_mime or mime_type
    manifest = verify_manifest(data, mime, trust_anchor_pem)
    mark = codec.decode(rgb)
    pdq = compute_pdq(rgb)
    payload_match = registry.match_payload(mark.payload) if registry is not None else None
    nearest = registry.nearest(pdq.hex, limits.match_distance) if registry is not None else None
    found = mark.confidence >= watermark_threshold or payload_match is not None
    return VerifyResult(
        c2pa=manifest,
        watermark_found=found,
        watermark_payload=mark.payload.hex() if found else "",
        watermark_confidence=mark.confidence,
        fingerprint=pdq.hex,
        fingerprint_quality=pdq.quality,
        mime_type=mime,
        summary=summarize_manifest(manifest.manifest_json),
        watermark_match=payload_match,
        nearest_match=nearest,
    )


def _decode(data: bytes, limits: VerifyLimits) -> tuple[np.ndarray, str]:
    """Decode to RGB, trusting the bytes rather than the declared MIME type."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=sorted(MIME_BY_FORMAT)) as image:
                if image.width * image.height > limits.max_pixels:
                    raise InvalidArgument(f"image has more than {limits.max_pixels} pixels")
                mime = MIME_BY_FORMAT.get(image.format or "", "")
                rgb = np.asarray(image.convert("RGB"))
    except InvalidArgument:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidArgument("image has too many pixels") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidArgument("data is not a readable JPEG, PNG, WebP or AVIF image") from exc
    return rgb, mime
