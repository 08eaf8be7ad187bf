"""PDQ fingerprints: ThreatExchange hex format, stable under re-encoding, far for other images."""

from __future__ import annotations

import re

import numpy as np
import pdqhash
import pytest

from services.provenance.encode import EncodeRequest, decode_rgb, encode_image
from services.provenance.fingerprint import Fingerprint, bits_to_hex, compute_pdq, hamming_distance, is_match
from tests.provenance.conftest import textured_frame


def test_hex_is_64_digits_in_threatexchange_order() -> None:
    bits = np.zeros(256, dtype=np.uint8)
    bits[0] = 1
    assert bits_to_hex(bits) == "8" + "0" * 63
    pdq = compute_pdq(textured_frame(512, 384, seed=1))
    assert re.fullmatch(r"[0-9a-f]{64}", pdq.hex)
    raw_bits, quality = pdqhash.compute(textured_frame(512, 384, seed=1))
    assert pdq.hex == bits_to_hex(raw_bits) and pdq.quality == quality


def test_reencoded_image_stays_close_and_a_different_one_is_far() -> None:
    from PIL import Image

    frame = textured_frame(512, 384, seed=1)
    jpeg = decode_rgb(encode_image(Image.fromarray(frame), EncodeRequest("jpeg", 80, False)).data)
    original, reencoded = compute_pdq(frame), compute_pdq(np.asarray(jpeg))
    other = compute_pdq(np.ascontiguousarray(textured_frame(512, 384, seed=2)[:, ::-1]))
    assert hamming_distance(original.hex, reencoded.hex) <= 8
    assert hamming_distance(original.hex, other.hex) > 31
    assert is_match(original, reencoded) and not is_match(original, other)


def test_hamming_distance_counts_bits_and_rejects_bad_hashes() -> None:
    assert hamming_distance("0" * 64, "f" + "0" * 63) == 4
    assert hamming_distance("f" * 64, "0" * 64) == 256
    with pytest.raises(ValueError):
        hamming_distance("abc", "0" * 64)
    assert not is_match(Fingerprint("0" * 64, 10), Fingerprint("0" * 64, 100))
