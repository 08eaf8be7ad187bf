"""Encoding the final pixels into the delivered format.

Unknown formats fall back to JPEG (the API's silent fallback). The encoder settings
trade a little size for a lot of speed on the 2-core budget (see FACTS.md), measured on
one core at 1344x768, q95:
- PNG: zlib level 1.
- WebP: method 2 (~70 ms) instead of libwebp's default 4 (~125 ms); at q95 the files
  are within 2% in size and equal in PSNR, method 3 and up cost ~2x for no gain.
- AVIF: aom speed 9 (~190 ms) instead of 8 (~270 ms) or 6 (~1.6 s); PSNR drops by
  0.1 dB and the file is ~1% smaller. Speed 10 is no faster for still images, and
  anything below 8 breaks the Finalize budget, so 9 is what keeps AVIF usable.
When a request cannot be honoured exactly (lossless JPEG, lossless AVIF) the result
carries a note instead of an error.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class OutputFormat:
    """One deliverable format: its Pillow name, MIME type and file extension."""

    name: str
    pillow: str
    mime_type: str
    extension: str


FORMATS: dict[str, OutputFormat] = {
    "jpeg": OutputFormat("jpeg", "JPEG", "image/jpeg", "jpg"),
    "png": OutputFormat("png", "PNG", "image/png", "png"),
    "webp": OutputFormat("webp", "WEBP", "image/webp", "webp"),
    "avif": OutputFormat("avif", "AVIF", "image/avif", "avif"),
}
ALIASES = {"jpg": "jpeg"}
DEFAULT_FORMAT = "jpeg"


@dataclass(frozen=True)
class EncoderTuning:
    """Speed knobs per format; defaults measured to keep Finalize well under a second."""

    png_compress_level: int = 1
    webp_method: int = 2
    webp_lossless_method: int = 0
    avif_speed: int = 9
    jpeg_444_from_quality: int = 90


@dataclass(frozen=True)
class EncodeRequest:
    """What the client asked for, before fallbacks."""

    format: str = DEFAULT_FORMAT
    quality: int = 95
    lossless: bool = False


@dataclass(frozen=True)
class EncodedFile:
    """The encoded bytes and what they are."""

    data: bytes
    format: OutputFormat
    width: int
    height: int
    quality: int
    notes: list[str] = field(default_factory=list)

    @property
    def mime_type(self) -> str:
        return self.format.mime_type

    @property
    def extension(self) -> str:
        return self.format.extension


def resolve_format(name: str) -> OutputFormat:
    """The requested format, or JPEG for anything unknown."""
    key = _format_key(name)
    return FORMATS.get(key, FORMATS[DEFAULT_FORMAT])


def _format_key(name: str) -> str:
    key = (name or "").strip().lower()
    return ALIASES.get(key, key)


def clamp_quality(quality: int) -> int:
    """Quality 1-100; 0 (unset on the wire) becomes 1 like any other out-of-range value."""
    return max(1, min(100, int(quality)))


def encode_image(
    image: Image.Image, request: EncodeRequest, tuning: EncoderTuning | None = None
) -> EncodedFile:
    """Encode an RGB image as asked; see the module docstring for fallbacks and notes."""
    tuning = tuning or EncoderTuning()
    fmt = resolve_format(request.format)
    quality = clamp_quality(request.quality)
    notes: list[str] = []
    if _format_key(request.format) not in ("", fmt.name):
        notes.append(f"format '{request.format}' is not supported; encoded as jpeg")
    options: dict[str, object]
    if fmt.name == "jpeg":
        subsampling = 0 if quality >= tuning.jpeg_444_from_quality else 2
        options = {"quality": quality, "subsampling": subsampling, "optimize": False}
        if request.lossless:
            notes.append(f"jpeg has no lossless mode; encoded lossy at quality {quality}")
    elif fmt.name == "png":
        options = {"compress_level": tuning.png_compress_level}
    elif fmt.name == "webp":
        if request.lossless:
            options = {"lossless": True, "quality": quality, "method": tuning.webp_lossless_method}
        else:
            options = {"quality": quality, "method": tuning.webp_method}
    else:
        if request.lossless:
            quality = 100
            notes.append("avif lossless is not available; encoded near-lossless (quality 100, 4:4:4)")
        options = {
            "quality": quality,
            "speed": tuning.avif_speed,
            "subsampling": "4:4:4"
            if request.lossless or quality >= tuning.jpeg_444_from_quality
            else "4:2:0",
        }
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    buffer = io.BytesIO()
    rgb.save(buffer, fmt.pillow, **options)
    return EncodedFile(buffer.getvalue(), fmt, rgb.width, rgb.height, quality, notes)


def decode_rgb(data: bytes) -> Image.Image:
    """Decode delivered bytes back to RGB, as a client's viewer would."""
    with Image.open(io.BytesIO(data)) as opened:
        return opened.convert("RGB")


def decode_pixels(data: bytes) -> np.ndarray:
    """Delivered bytes as (H, W, 3) uint8 RGB, skipping the mode conversion (a copy) when already RGB."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        return np.asarray(opened if opened.mode == "RGB" else opened.convert("RGB"))


def is_exact(encoded: EncodedFile, request: EncodeRequest) -> bool:
    """Whether decoding ``encoded`` gives back exactly the pixels that were encoded.

    PNG always, WebP when lossless; lossless AVIF is only near-lossless and JPEG never is.
    """
    return encoded.format.name == "png" or (encoded.format.name == "webp" and request.lossless)
