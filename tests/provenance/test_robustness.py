"""The production mark survives what happens to images in the wild: JPEG 75, a 50% resize, a crop."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from services.provenance.dwt_dct_svd import VectorisedDwtDctSvdCodec
from services.provenance.invisible import DwtDctSvdCodec, payload_for, realign_crop
from tests.provenance.conftest import textured_frame

KEY = bytes(range(32))
PAYLOAD = payload_for(KEY, "k3j9x0a7b2c4d6e8f1g5")
WIDTH, HEIGHT = 1344, 768


@pytest.fixture(scope="module")
def marked() -> np.ndarray:
    return VectorisedDwtDctSvdCodec().embed(textured_frame(WIDTH, HEIGHT, seed=21), PAYLOAD)


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def test_psnr_is_at_least_40_db_at_full_size(marked: np.ndarray) -> None:
    frame = textured_frame(WIDTH, HEIGHT, seed=21)
    psnr = 10 * np.log10(255**2 / np.mean((marked.astype(float) - frame) ** 2))
    assert psnr >= 40


def test_mark_survives_jpeg_75(marked: np.ndarray) -> None:
    decoded = VectorisedDwtDctSvdCodec().decode(jpeg(marked, 75))
    assert decoded.payload == PAYLOAD and decoded.confidence > 0.65


def test_mark_survives_half_size_and_back(marked: np.ndarray) -> None:
    small = Image.fromarray(marked).resize((WIDTH // 2, HEIGHT // 2), Image.Resampling.BILINEAR)
    restored = np.asarray(small.resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC))
    decoded = VectorisedDwtDctSvdCodec().decode(restored)
    assert decoded.payload == PAYLOAD and decoded.confidence > 0.65


@pytest.mark.parametrize(("left", "top", "right", "bottom"), [(13, 7, 1300, 740), (0, 40, 1280, 768)])
def test_mark_survives_a_crop_with_known_offset(
    marked: np.ndarray, left: int, top: int, right: int, bottom: int
) -> None:
    cropped = jpeg(marked[top:bottom, left:right], 90)
    codec = VectorisedDwtDctSvdCodec()
    assert codec.decode(cropped).payload != PAYLOAD  # off the grid, the votes land on the wrong bits
    decoded = codec.decode(realign_crop(cropped, left, top, WIDTH, HEIGHT))
    assert decoded.payload == PAYLOAD and decoded.confidence > 0.65


def test_realign_rejects_an_offset_outside_the_original() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        realign_crop(np.zeros((100, 100, 3), np.uint8), 950, 0, 1000, 1000)


def test_imwatermark_reads_the_fast_mark_after_jpeg_75(marked: np.ndarray) -> None:
    assert DwtDctSvdCodec().decode(jpeg(marked, 75)).payload == PAYLOAD
