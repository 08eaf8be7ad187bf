"""Invisible watermark: keyed payloads, key file handling, decode with a confidence."""

from __future__ import annotations

import io
import stat

import numpy as np
import pytest
from PIL import Image

from services.provenance.dwt_dct_svd import VectorisedDwtDctSvdCodec
from services.provenance.invisible import DwtDctSvdCodec, load_or_create_key, payload_for
from tests.provenance.conftest import textured_frame

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def codec() -> DwtDctSvdCodec:
    return DwtDctSvdCodec()


def test_payload_is_keyed_and_stable() -> None:
    payload = payload_for(KEY, "k3j9x0a7b2c4d6e8f1g5")
    assert len(payload) == 8
    assert payload == payload_for(KEY, "k3j9x0a7b2c4d6e8f1g5")
    assert payload != payload_for(KEY, "k3j9x0a7b2c4d6e8f1g6")
    assert payload != payload_for(bytes(32), "k3j9x0a7b2c4d6e8f1g5")


def test_key_file_is_created_once_with_0600(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "provenance" / "watermark.key"
    key = load_or_create_key(path)
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    path.write_text("zz")
    with pytest.raises(ValueError, match="not hex"):
        load_or_create_key(path)


def test_mark_survives_jpeg_and_unmarked_reads_as_noise(codec: DwtDctSvdCodec) -> None:
    frame = textured_frame(640, 480, seed=7)
    payload = payload_for(KEY, "gen")
    marked = codec.embed(frame, payload)
    assert marked.shape == frame.shape and marked.dtype == np.uint8
    psnr = 10 * np.log10(255**2 / np.mean((marked.astype(float) - frame) ** 2))
    assert psnr > 25
    buffer = io.BytesIO()
    Image.fromarray(marked).save(buffer, "JPEG", quality=80)
    decoded = codec.decode(np.asarray(Image.open(buffer).convert("RGB")))
    assert decoded.payload == payload and decoded.agreement(payload) == 1.0
    assert decoded.confidence > 0.8
    clean = codec.decode(frame)
    assert clean.confidence < 0.6
    assert 0.2 < clean.agreement(payload) < 0.8


def test_flat_image_does_not_look_marked(codec: DwtDctSvdCodec) -> None:
    assert codec.decode(np.full((480, 640, 3), 128, np.uint8)).confidence == 0.5


def test_too_small_image_decodes_as_unmarked(codec: DwtDctSvdCodec) -> None:
    assert codec.decode(textured_frame(100, 100)).confidence == 0.5


@pytest.fixture(scope="module")
def vectorised() -> VectorisedDwtDctSvdCodec:
    return VectorisedDwtDctSvdCodec()


def test_vectorised_and_reference_read_each_others_marks(
    codec: DwtDctSvdCodec, vectorised: VectorisedDwtDctSvdCodec
) -> None:
    frame = textured_frame(640, 480, seed=9)
    payload = payload_for(KEY, "cross")
    ours, theirs = vectorised.embed(frame, payload), codec.embed(frame, payload)
    assert codec.decode(ours).payload == payload and vectorised.decode(theirs).payload == payload
    for image in (ours, theirs, frame):  # identical votes, hence identical bits and confidence
        fast, reference = vectorised.decode(image), codec.decode(image)
        assert np.array_equal(fast.bits, reference.bits)
        assert fast.confidence == pytest.approx(reference.confidence, abs=1e-9)


def test_vectorised_mark_is_cleaner_and_survives_jpeg(vectorised: VectorisedDwtDctSvdCodec) -> None:
    frame = textured_frame(640, 480, seed=10)
    payload = payload_for(KEY, "fast")
    marked = vectorised.embed(frame, payload)
    psnr = 10 * np.log10(255**2 / np.mean((marked.astype(float) - frame) ** 2))
    assert psnr > 38  # the reference swaps the H/V bands and lands near 34 dB here
    buffer = io.BytesIO()
    Image.fromarray(marked).save(buffer, "JPEG", quality=80)
    assert vectorised.decode(np.asarray(Image.open(buffer).convert("RGB"))).payload == payload
    assert vectorised.decode(np.zeros((480, 640, 3), np.uint8)).confidence == 0.5
    with pytest.raises(ValueError, match="too small"):
        vectorised.embed(textured_frame(100, 100), payload)
