"""PDQ perceptual fingerprint of the delivered pixels.

PDQ is the hash Meta's ThreatExchange/HMA ecosystem exchanges, so our fingerprints can
be matched against shared lists and re-found after re-encoding or resizing. The hex
form follows ThreatExchange (bit 0 of pdqhash's array is the most significant digit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pdqhash

HASH_BITS = 256
#: HMA's match rule: distance at most 31 bits, both hashes with quality at least 50.
MATCH_DISTANCE = 31
MIN_QUALITY = 50


@dataclass(frozen=True)
class Fingerprint:
    """A PDQ hash (64 hex digits) and PDQ's own quality score 0-100."""

    hex: str
    quality: int


def compute_pdq(rgb: np.ndarray) -> Fingerprint:
    """PDQ of an (H, W, 3) uint8 RGB array."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("PDQ needs an (H, W, 3) uint8 RGB array")
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return Fingerprint(bits_to_hex(bits), int(quality))


def bits_to_hex(bits: np.ndarray) -> str:
    """ThreatExchange's hex format of a 256-bit PDQ hash."""
    return f"{int(''.join(str(int(b)) for b in bits), 2):064x}"


def hamming_distance(first_hex: str, second_hex: str) -> int:
    """Number of differing bits between two PDQ hex hashes."""
    if len(first_hex) != HASH_BITS // 4 or len(second_hex) != HASH_BITS // 4:
        raise ValueError("PDQ hashes are 64 hex digits")
    return (int(first_hex, 16) ^ int(second_hex, 16)).bit_count()


def is_match(first: Fingerprint, second: Fingerprint, max_distance: int = MATCH_DISTANCE) -> bool:
    """HMA's rule: close enough and both hashes computed on images with enough detail."""
    return (
        first.quality >= MIN_QUALITY
        and second.quality >= MIN_QUALITY
        and hamming_distance(first.hex, second.hex) <= max_distance
    )
