"""The Finalize pipeline: generated pixels in, delivered credentialed files out.

The order is fixed by DESIGN.md and matters: brand → invisible watermark → encode →
PDQ → C2PA sign → thumbnail. The invisible mark goes on after the logo so the logo
area carries it too; PDQ is computed on the *decoded* encoded file so it equals what
anyone computes on the download; signing is last because any pixel change after it
would invalidate the manifest's hash. The thumbnail is derived from those same final
pixels and gets its own manifest.

Speed (see bench/provenance.py): pixels stay one contiguous numpy array from brand to
encode, with a single conversion to a Pillow image for the encoder. The decode round
trip is skipped when the format is exact (PNG, lossless WebP), because the final pixels
are then known. PDQ runs at full size: hashing a 512 px copy, or a JPEG decoded at half
scale with `draft()`, moved the hash by up to 18 and 10 bits on test frames, so neither
is the hash of the download.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from services.provenance.brand import BrandLimits, BrandPlacement, brand_pixels, decode_data_uri
from services.provenance.c2pa_manifest import CreativeWork, GenerationFacts, ManifestSigner
from services.provenance.encode import (
    EncodedFile,
    EncodeRequest,
    EncoderTuning,
    decode_pixels,
    encode_image,
    is_exact,
)
from services.provenance.fingerprint import compute_pdq
from services.provenance.invisible import WatermarkCodec, can_carry_mark, payload_for

THUMBNAIL_TITLE_SUFFIX = " (thumbnail)"


@dataclass(frozen=True)
class BrandRequest:
    """The `wm_*` parameters: an optional client logo and its placement."""

    image_data_uri: str = ""
    placement: BrandPlacement = field(default_factory=BrandPlacement)


@dataclass(frozen=True)
class FinalizeRequest:
    """Everything Finalize needs besides the pixels; mirrors the proto's FinalizeRequest."""

    gen_id: str
    job_id: str = ""
    encode: EncodeRequest = field(default_factory=EncodeRequest)
    brand: BrandRequest = field(default_factory=BrandRequest)
    credentials: CreativeWork = field(default_factory=lambda: CreativeWork("", "", "", "", ""))
    model: str = ""
    style: str = ""
    seed: int = 0
    enable_invisimark: bool = True
    enable_c2pa: bool = True
    compute_pdq: bool = True


@dataclass(frozen=True)
class DeliveredFile:
    """One finished file; mirrors imgen.common.v1.EncodedImage."""

    data: bytes
    mime_type: str
    extension: str
    width: int
    height: int


@dataclass
class FinalizeResult:
    """Mirrors FinalizeResponse, plus per-stage timings for logs and benchmarks."""

    image: DeliveredFile
    thumbnail: DeliveredFile
    fingerprint: str
    fingerprint_quality: int
    watermark_payload: str
    credentials: CreativeWork
    notes: list[str]
    timings_s: dict[str, float]
    #: CPU seconds per stage, counted over the whole process (encoders use threads): the cost
    #: on one core when calls run one at a time, as in the benchmark; concurrent calls inflate it.
    cpu_s: dict[str, float] = field(default_factory=dict)


@dataclass
class Finalizer:
    """Holds the service's keys, defaults and tuning; `finalize` is pure CPU work."""

    codec: WatermarkCodec
    watermark_key: bytes
    signer: ManifestSigner | None
    default_credentials: CreativeWork
    default_logo: Image.Image | None
    brand_limits: BrandLimits = field(default_factory=BrandLimits)
    tuning: EncoderTuning = field(default_factory=EncoderTuning)
    thumbnail_size: int = 256

    def finalize(self, rgb: np.ndarray, request: FinalizeRequest) -> FinalizeResult:
        """Run the pipeline on (H, W, 3) uint8 RGB pixels (``rgb`` itself is never written)."""
        timings: dict[str, float] = {}
        cpu: dict[str, float] = {}
        notes: list[str] = []
        credentials = self.effective_credentials(request.credentials)
        height, width = rgb.shape[:2]

        with _timed(timings, cpu, "brand"):
            logo = self._logo_for(request.brand)  # validates wm_image before any other work
            pixels = rgb if logo is None else brand_pixels(rgb, logo, request.brand.placement)

        payload = b""
        with _timed(timings, cpu, "invisible_watermark"):
            if request.enable_invisimark:
                if can_carry_mark(width, height):
                    payload = payload_for(self.watermark_key, request.gen_id)
                    pixels = self.codec.embed(pixels, payload)
                else:
                    notes.append("image too small for the invisible watermark; not embedded")

        with _timed(timings, cpu, "encode"):
            encoded = encode_image(Image.fromarray(np.ascontiguousarray(pixels)), request.encode, self.tuning)
            notes.extend(encoded.notes)

        with _timed(timings, cpu, "decode_final"):
            final_pixels = pixels if is_exact(encoded, request.encode) else decode_pixels(encoded.data)

        fingerprint, quality = "", 0
        with _timed(timings, cpu, "pdq"):
            if request.compute_pdq:
                pdq = compute_pdq(final_pixels)
                fingerprint, quality = pdq.hex, pdq.quality

        facts = GenerationFacts(
            gen_id=request.gen_id,
            model=request.model,
            style=request.style,
            seed=request.seed,
            watermark_payload=payload.hex(),
            fingerprint=fingerprint,
        )
        with _timed(timings, cpu, "c2pa_sign"):
            signed = self._sign(encoded, credentials, facts, request.enable_c2pa, "")

        with _timed(timings, cpu, "thumbnail"):
            thumb = encode_image(self._thumbnail(final_pixels), request.encode, self.tuning)
            thumb_signed = self._sign(thumb, credentials, facts, request.enable_c2pa, THUMBNAIL_TITLE_SUFFIX)

        timings["total"] = sum(timings.values())
        cpu["total"] = sum(cpu.values())
        return FinalizeResult(
            image=_delivered(encoded, signed),
            thumbnail=_delivered(thumb, thumb_signed),
            fingerprint=fingerprint,
            fingerprint_quality=quality,
            watermark_payload=payload.hex(),
            credentials=credentials,
            notes=notes,
            timings_s=timings,
            cpu_s=cpu,
        )

    def _thumbnail(self, pixels: np.ndarray) -> Image.Image:
        """The final pixels shrunk to fit ``thumbnail_size`` (aspect kept; area averaging, never enlarged)."""
        height, width = pixels.shape[:2]
        factor = min(1.0, self.thumbnail_size / max(width, height))
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        if size == (width, height):
            return Image.fromarray(np.ascontiguousarray(pixels))
        return Image.fromarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA))

    def effective_credentials(self, requested: CreativeWork) -> CreativeWork:
        """Request values where given (non-blank), configured defaults elsewhere."""
        defaults = self.default_credentials

        def pick(value: str, default: str) -> str:
            return value.strip() or default

        return CreativeWork(
            author=pick(requested.author, defaults.author),
            title=pick(requested.title, defaults.title),
            description=pick(requested.description, defaults.description),
            organization=pick(requested.organization, defaults.organization),
            vendor=pick(requested.vendor, defaults.vendor),
        )

    def _logo_for(self, brand: BrandRequest) -> Image.Image | None:
        if brand.image_data_uri.strip():
            return decode_data_uri(brand.image_data_uri, self.brand_limits)
        return self.default_logo

    def _sign(
        self,
        encoded: EncodedFile,
        credentials: CreativeWork,
        facts: GenerationFacts,
        enabled: bool,
        suffix: str,
    ) -> bytes:
        if not enabled or self.signer is None:
            return encoded.data
        return self.signer.sign(encoded.data, encoded.mime_type, credentials, facts, suffix)


def _delivered(encoded: EncodedFile, data: bytes) -> DeliveredFile:
    return DeliveredFile(data, encoded.mime_type, encoded.extension, encoded.width, encoded.height)


@contextmanager
def _timed(timings: dict[str, float], cpu: dict[str, float], stage: str) -> Iterator[None]:
    start, start_cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start
        cpu[stage] = cpu.get(stage, 0.0) + time.process_time() - start_cpu
