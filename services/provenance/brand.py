"""The visible branding watermark: the client's (or our default) logo composited on the image.

Every `wm_*` parameter of the API lands here. Numeric values are clamped to the spec's
ranges and an unknown anchor falls back to bottom-right (the API's silent fallbacks);
only an unusable `wm_image` is an error, because silently dropping a customer's logo
would ship unbranded images. The logo arrives as an untrusted base64 data URI, so its
size, type and pixel count are checked before Pillow decodes a single pixel.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from services.shared.errors import InvalidArgument

ANCHORS = (
    "top-left",
    "top-center",
    "top-right",
    "center-left",
    "center",
    "center-right",
    "bottom-left",
    "bottom-center",
    "bottom-right",
)
DEFAULT_ANCHOR = "bottom-right"
#: data-URI media type → the Pillow format the bytes must really be.
ALLOWED_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/jpg": "JPEG", "image/webp": "WEBP"}
#: Pillow format → the canonical media type reported back.
FORMAT_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)(?P<params>(;[^,;]*)*?);base64,(?P<data>.*)$", re.S)


@dataclass(frozen=True)
class BrandLimits:
    """Guards against hostile logos: encoded bytes and decoded pixel count."""

    max_bytes: int = 2 * 1024 * 1024
    max_pixels: int = 4_000_000


@dataclass(frozen=True)
class BrandPlacement:
    """How to place the logo, already clamped to the API's ranges."""

    position: str = DEFAULT_ANCHOR
    scale: int = 5
    opacity: int = 100
    rotation: int = 0
    padding_x: int = 10
    padding_y: int = 10

    @classmethod
    def clamped(
        cls,
        position: str,
        scale: int,
        opacity: int,
        rotation: int,
        padding_x: int,
        padding_y: int,
    ) -> BrandPlacement:
        """Apply the API's silent fallbacks: clamp numbers, unknown anchor → bottom-right."""
        anchor = position.strip().lower() if position else ""
        return cls(
            position=anchor if anchor in ANCHORS else DEFAULT_ANCHOR,
            scale=_clamp(scale, 1, 100),
            opacity=_clamp(opacity, 0, 100),
            rotation=_clamp(rotation, -360, 360),
            padding_x=_clamp(padding_x, 0, 500),
            padding_y=_clamp(padding_y, 0, 500),
        )


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, int(value)))


@dataclass(frozen=True)
class BrandImageInfo:
    """What a validated client logo is, for callers that only need to know it is usable."""

    width: int
    height: int
    mime_type: str


def decode_data_uri(uri: str, limits: BrandLimits) -> Image.Image:
    """Decode a `data:image/...;base64,` logo into RGBA, or raise InvalidArgument saying why."""
    raw, expected_format = _read_data_uri(uri, limits)
    return open_logo(raw, limits, expected_format)


def check_data_uri(uri: str, limits: BrandLimits) -> BrandImageInfo:
    """Validate a logo exactly as Finalize will (full decode included), so a bad one is refused early."""
    raw, expected_format = _read_data_uri(uri, limits)
    logo = open_logo(raw, limits, expected_format)
    return BrandImageInfo(width=logo.width, height=logo.height, mime_type=FORMAT_MIME[expected_format])


def _read_data_uri(uri: str, limits: BrandLimits) -> tuple[bytes, str]:
    """(raw bytes, the Pillow format they must be) from a data URI, checked before any decoding."""
    match = _DATA_URI.match(uri.strip())
    if not match:
        raise InvalidArgument("wm_image must be a base64 data URI (data:image/png;base64,...)")
    mime = match.group("mime").lower()
    expected_format = ALLOWED_TYPES.get(mime)
    if expected_format is None:
        raise InvalidArgument(
            f"wm_image type {mime} is not supported; use image/png, image/jpeg or image/webp"
        )
    encoded = re.sub(r"\s+", "", match.group("data"))
    if len(encoded) > (limits.max_bytes + 2) // 3 * 4:
        raise InvalidArgument(f"wm_image is larger than {limits.max_bytes // 1024} KiB")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgument("wm_image is not valid base64") from exc
    if not raw:
        raise InvalidArgument("wm_image is empty")
    return raw, expected_format


def open_logo(raw: bytes, limits: BrandLimits, expected_format: str | None = None) -> Image.Image:
    """Decode logo bytes after checking size, real format and pixel count (no decompression bombs)."""
    if len(raw) > limits.max_bytes:
        raise InvalidArgument(f"wm_image is larger than {limits.max_bytes // 1024} KiB")
    allowed = {expected_format} if expected_format else set(ALLOWED_TYPES.values())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw), formats=sorted(allowed))
            width, height = image.size
            if width < 1 or height < 1 or width * height > limits.max_pixels:
                raise InvalidArgument(
                    f"wm_image has {width}x{height} pixels; at most {limits.max_pixels} are allowed"
                )
            image.load()
    except InvalidArgument:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidArgument("wm_image has too many pixels") from exc
    except Image.UnidentifiedImageError as exc:
        raise InvalidArgument("wm_image is not a PNG, JPEG or WebP image matching its declared type") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidArgument("wm_image is truncated or corrupt") from exc
    return image.convert("RGBA")


@lru_cache(maxsize=1)
def default_logo() -> Image.Image:
    """The built-in brand mark: "imgen" in white with a dark outline, drawn deterministically.

    Drawn in code rather than shipped so the repository holds no binary asset; white
    text with a dark stroke stays legible on light and dark images alike.
    """
    font = ImageFont.load_default(size=96)
    text = "imgen"
    stroke = 6
    left, top, right, bottom = (int(v) for v in font.getbbox(text, stroke_width=stroke))
    canvas = Image.new("RGBA", (right - left + 8, bottom - top + 8), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    draw.text(
        (4 - left, 4 - top),
        text,
        font=font,
        fill=(255, 255, 255, 235),
        stroke_width=stroke,
        stroke_fill=(20, 20, 20, 200),
    )
    return canvas


def load_brand_file(path: Path, limits: BrandLimits) -> Image.Image:
    """A configured default logo from disk, held to the same limits as a client's."""
    return open_logo(path.read_bytes(), limits)


def apply_brand(image: Image.Image, logo: Image.Image, placement: BrandPlacement) -> Image.Image:
    """Composite ``logo`` onto an RGB ``image``; returns a new RGB image (see `brand_pixels`)."""
    rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    return Image.fromarray(brand_pixels(rgb, logo, placement))


def brand_pixels(rgb: np.ndarray, logo: Image.Image, placement: BrandPlacement) -> np.ndarray:
    """Composite ``logo`` onto (H, W, 3) uint8 pixels; returns a new array, ``rgb`` is untouched.

    The logo's longer side becomes ``scale`` percent of the image's shorter side, then it
    is rotated (counter-clockwise for positive degrees, canvas expanded so no corner is
    cut), faded by ``opacity`` and anchored with the paddings measured from the edges
    it touches. An opacity of 0 returns an unchanged copy. Only the logo's box is
    blended; the rest is a plain array copy (Finalize works on arrays end to end).
    """
    result = np.array(rgb, dtype=np.uint8, order="C", copy=True)
    if placement.opacity == 0:
        return result
    height, width = result.shape[:2]
    mark = _sized_logo(logo, (width, height), placement)
    left, top = _anchor_origin((width, height), mark.size, placement)
    _composite(result, mark, left, top)
    return result


def _sized_logo(logo: Image.Image, image_size: tuple[int, int], placement: BrandPlacement) -> Image.Image:
    target = max(1, round(min(image_size) * placement.scale / 100))
    factor = target / max(logo.size)
    size = (max(1, round(logo.width * factor)), max(1, round(logo.height * factor)))
    mark = logo.convert("RGBA").resize(size, Image.Resampling.LANCZOS)
    if placement.rotation % 360:
        mark = mark.rotate(placement.rotation, resample=Image.Resampling.BICUBIC, expand=True)
    if placement.opacity < 100:
        alpha = mark.getchannel("A").point(lambda a: a * placement.opacity // 100)
        mark.putalpha(alpha)
    return mark


def _anchor_origin(
    image_size: tuple[int, int], mark_size: tuple[int, int], placement: BrandPlacement
) -> tuple[int, int]:
    """Top-left corner of the mark for the anchor; paddings push it away from the edges it touches."""
    width, height = image_size
    mark_w, mark_h = mark_size
    vertical, _, horizontal = placement.position.partition("-")
    if placement.position == "center":
        vertical, horizontal = "center", "center"
    x = {
        "left": placement.padding_x,
        "center": (width - mark_w) // 2,
        "right": width - mark_w - placement.padding_x,
    }[horizontal]
    y = {
        "top": placement.padding_y,
        "center": (height - mark_h) // 2,
        "bottom": height - mark_h - placement.padding_y,
    }[vertical]
    # Paddings larger than the room left would push the logo off the image: keep it inside.
    return min(max(x, 0), max(width - mark_w, 0)), min(max(y, 0), max(height - mark_h, 0))


def _composite(pixels: np.ndarray, mark: Image.Image, left: int, top: int) -> None:
    """Alpha-blend ``mark`` into ``pixels`` in place, touching only the covered box, clipping the rest."""
    height, width = pixels.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + mark.width, width), min(top + mark.height, height)
    if x0 >= x1 or y0 >= y1:
        return
    visible = mark.crop((x0 - left, y0 - top, x1 - left, y1 - top))
    region = Image.fromarray(pixels[y0:y1, x0:x1]).convert("RGBA")
    region.alpha_composite(visible)
    pixels[y0:y1, x0:x1] = np.asarray(region.convert("RGB"))
