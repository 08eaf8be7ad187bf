"""Encoding: each format round-trips in Pillow at the right size and MIME type, with the API's fallbacks."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from services.provenance.encode import EncodeRequest, decode_rgb, encode_image, resolve_format
from tests.provenance.conftest import textured_frame

FRAME = Image.fromarray(textured_frame(320, 200, seed=3))


@pytest.mark.parametrize(
    ("fmt", "pillow_format", "mime", "ext"),
    [
        ("jpeg", "JPEG", "image/jpeg", "jpg"),
        ("png", "PNG", "image/png", "png"),
        ("webp", "WEBP", "image/webp", "webp"),
        ("avif", "AVIF", "image/avif", "avif"),
    ],
)
def test_each_format_round_trips(fmt: str, pillow_format: str, mime: str, ext: str) -> None:
    encoded = encode_image(FRAME, EncodeRequest(fmt, 90, False))
    with Image.open(io.BytesIO(encoded.data)) as opened:
        assert opened.format == pillow_format
        assert opened.size == (320, 200)
    assert (encoded.mime_type, encoded.extension, encoded.width, encoded.height) == (mime, ext, 320, 200)
    assert encoded.notes == []


def test_unknown_format_falls_back_to_jpeg_with_a_note() -> None:
    encoded = encode_image(FRAME, EncodeRequest("gif", 90, False))
    assert encoded.mime_type == "image/jpeg"
    assert "not supported" in encoded.notes[0]
    assert resolve_format("").name == "jpeg" and resolve_format("JPG").name == "jpeg"
    assert encode_image(FRAME, EncodeRequest("", 90, False)).notes == []


def test_quality_changes_size_and_is_clamped() -> None:
    low = encode_image(FRAME, EncodeRequest("jpeg", 10, False))
    high = encode_image(FRAME, EncodeRequest("jpeg", 95, False))
    assert len(low.data) < len(high.data)
    assert encode_image(FRAME, EncodeRequest("jpeg", 0, False)).quality == 1
    assert encode_image(FRAME, EncodeRequest("jpeg", 400, False)).quality == 100


def test_png_and_webp_lossless_are_exact() -> None:
    original = np.asarray(FRAME)
    for fmt in ("png", "webp"):
        encoded = encode_image(FRAME, EncodeRequest(fmt, 80, True))
        assert np.array_equal(np.asarray(decode_rgb(encoded.data)), original), fmt
        assert encoded.notes == []


def test_lossless_avif_is_near_lossless_with_a_note() -> None:
    encoded = encode_image(FRAME, EncodeRequest("avif", 50, True))
    assert encoded.quality == 100 and "near-lossless" in encoded.notes[0]
    error = np.abs(np.asarray(decode_rgb(encoded.data)).astype(int) - np.asarray(FRAME).astype(int))
    assert error.mean() < 2.0


def test_lossless_jpeg_is_reported_as_lossy() -> None:
    assert "no lossless mode" in encode_image(FRAME, EncodeRequest("jpeg", 90, True)).notes[0]
