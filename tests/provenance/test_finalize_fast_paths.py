"""The shortcuts that make Finalize fast must not change what it delivers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from services.provenance.allocator import retain_freed_memory
from services.provenance.encode import EncodeRequest, decode_pixels, encode_image, is_exact
from services.provenance.finalize import FinalizeRequest
from services.provenance.fingerprint import compute_pdq
from services.provenance.state import ProvenanceState
from tests.provenance.conftest import textured_frame


@pytest.mark.parametrize(
    ("fmt", "lossless", "exact"),
    [
        ("png", False, True),
        ("webp", True, True),
        ("webp", False, False),
        ("avif", True, False),  # near-lossless only: the download must be decoded for PDQ
        ("jpeg", True, False),
    ],
)
def test_only_exact_formats_skip_the_decode(fmt: str, lossless: bool, exact: bool) -> None:
    frame = textured_frame(64, 48, seed=3)
    request = EncodeRequest(fmt, 90, lossless)
    encoded = encode_image(Image.fromarray(frame), request)
    assert is_exact(encoded, request) is exact
    if exact:  # the claim the shortcut rests on
        assert np.array_equal(decode_pixels(encoded.data), frame)


@pytest.mark.parametrize(("fmt", "lossless"), [("webp", True), ("png", False), ("webp", False)])
def test_fingerprint_equals_pdq_of_the_download(state: ProvenanceState, fmt: str, lossless: bool) -> None:
    frame = textured_frame(512, 384, seed=4)
    request = FinalizeRequest(gen_id="fastpathfastpathfast", encode=EncodeRequest(fmt, 90, lossless))
    result = state.finalizer.finalize(frame, request)
    downloaded = compute_pdq(decode_pixels(result.image.data))
    assert (downloaded.hex, downloaded.quality) == (result.fingerprint, result.fingerprint_quality)


def test_input_pixels_are_never_written(state: ProvenanceState) -> None:
    frame = textured_frame(512, 384, seed=5)
    before = frame.copy()
    state.finalizer.finalize(frame, FinalizeRequest(gen_id="readonlyreadonlyread"))
    assert np.array_equal(frame, before)
    frozen = frame.copy()
    frozen.flags.writeable = False  # the servicer hands over a read-only view of the request bytes
    state.finalizer.finalize(frozen, FinalizeRequest(gen_id="readonlyreadonlyread"))


def test_thumbnail_keeps_the_aspect_and_every_stage_is_timed(state: ProvenanceState) -> None:
    result = state.finalizer.finalize(
        textured_frame(672, 384, seed=6), FinalizeRequest(gen_id="thumbthumbthumbthumb")
    )
    assert (result.thumbnail.width, result.thumbnail.height) == (256, 146)
    stages = {
        "brand",
        "invisible_watermark",
        "encode",
        "decode_final",
        "pdq",
        "c2pa_sign",
        "thumbnail",
        "total",
    }
    assert set(result.timings_s) == stages and set(result.cpu_s) == stages
    assert all(value >= 0 for value in result.cpu_s.values())


def test_allocator_tuning_applies_on_glibc() -> None:
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert retain_freed_memory() is True
