"""A Hamming-distance index over 256-bit PDQ hashes that stays fast at millions of entries.

Multi-index hashing: each hash is cut into 16 bands of 16 bits, and each band keeps a
bucket table (band value → rows). If two hashes differ in at most ``d`` bits, then by
the pigeonhole principle at least one of the 16 bands differs in at most ``d // 16``
bits, so probing every band with all values within ``d // 16`` bits of the query's
band finds every true match; candidates are then verified with a vectorised popcount.
For the HMA threshold ``d = 31`` that is 17 probes per band, 272 in all.

(Eight 32-bit bands with *exact* band equality, the obvious alternative, only
guarantees matches up to distance 7: 31 differing bits can touch all eight bands.)
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

HASH_BYTES = 32
BANDS = 16
BAND_VALUES = 1 << 16


@dataclass(frozen=True)
class Match:
    """A stored hash within the searched distance of the query."""

    row: int
    distance: int


def hex_to_bytes(hexes: list[str]) -> np.ndarray:
    """``(N, 32)`` uint8 rows from 64-digit hex strings (ThreatExchange's PDQ format)."""
    if not hexes:
        return np.empty((0, HASH_BYTES), dtype=np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(-1, HASH_BYTES)


def bits_to_bytes(bits: np.ndarray) -> np.ndarray:
    """32 bytes from ``pdqhash``'s 256 bits, most significant bit first (same as the hex form)."""
    return np.packbits(np.asarray(bits, dtype=np.uint8))


def bytes_to_hex(row: np.ndarray) -> str:
    """The 64-digit hex form of one hash."""
    return bytes(np.asarray(row, dtype=np.uint8)).hex()


def _flip_masks(radius: int) -> np.ndarray:
    """Every 16-bit mask with at most ``radius`` bits set."""
    masks = [0]
    for count in range(1, radius + 1):
        for bits in combinations(range(16), count):
            masks.append(sum(1 << b for b in bits))
    return np.array(masks, dtype=np.int64)


class PdqIndex:
    """Stored hashes (rows in insertion order) searchable by Hamming distance."""

    def __init__(self, hashes: np.ndarray) -> None:
        hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, HASH_BYTES)
        self.size = int(hashes.shape[0])
        self._words = hashes.view(">u8").astype(np.uint64)  # (N, 4) for popcount
        bands = hashes.view(">u2").astype(np.int64)  # (N, 16)
        self._order = np.empty((BANDS, self.size), dtype=np.int64 if self.size >= 2**31 else np.int32)
        self._starts = np.zeros((BANDS, BAND_VALUES + 1), dtype=np.int64)
        for band in range(BANDS):
            column = bands[:, band]
            self._order[band] = np.argsort(column, kind="stable")
            np.cumsum(np.bincount(column, minlength=BAND_VALUES), out=self._starts[band, 1:])
        self._masks: dict[int, np.ndarray] = {}

    def search(self, query: np.ndarray, max_distance: int) -> list[Match]:
        """Every stored hash within ``max_distance`` bits of ``query`` (32 bytes), nearest first."""
        if self.size == 0:
            return []
        if not 0 <= max_distance <= 255:
            raise ValueError("max_distance must be within 0..255")
        query = np.ascontiguousarray(query, dtype=np.uint8).reshape(HASH_BYTES)
        radius = max_distance // BANDS
        masks = self._masks.get(radius)
        if masks is None:
            masks = self._masks[radius] = _flip_masks(radius)
        probes = query.view(">u2").astype(np.int64)[:, None] ^ masks[None, :]  # (16, M)
        band_ids = np.broadcast_to(np.arange(BANDS)[:, None], probes.shape)
        lo = self._starts[band_ids, probes].ravel()
        counts = self._starts[band_ids, probes + 1].ravel() - lo
        total = int(counts.sum())
        if total == 0:
            return []
        # Concatenate the buckets' slices without a Python loop.
        run_starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        positions = run_starts + np.arange(total)
        rows = np.unique(self._order[np.repeat(band_ids.ravel(), counts), positions])
        distances = self.distances(query, rows)
        keep = distances <= max_distance
        rows, distances = rows[keep], distances[keep]
        ranked = np.argsort(distances, kind="stable")
        return [Match(int(rows[i]), int(distances[i])) for i in ranked]

    def distances(self, query: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Hamming distances from ``query`` to ``rows`` (all rows when None): the brute-force path."""
        words = self._words if rows is None else self._words[rows]
        query_words = (
            np.ascontiguousarray(query, dtype=np.uint8).reshape(HASH_BYTES).view(">u8").astype(np.uint64)
        )
        return np.bitwise_count(words ^ query_words).sum(axis=1, dtype=np.int64)
