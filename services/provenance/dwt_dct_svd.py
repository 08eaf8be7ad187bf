"""Vectorised `dwtDctSvd`: the same mark as imwatermark's, ~10x faster.

imwatermark loops in Python over every 4x4 block of the DWT approximation band (16k
blocks at 1344x768, ~300 ms). Here all blocks go through one batched DCT (as matrix
products with the orthonormal DCT-II basis, which is what `cv2.dct` computes) and one
batched SVD. Only the largest singular value of each block changes, so the embedded
block is the original plus a rank-one correction `(s0' - s0) * u0 v0ᵀ`, and the top
singular triplet comes from a batched 4x4 symmetric eigen-decomposition of AᵀA, which is
several times faster than a batched SVD.

Compatibility: the block order, bit assignment (block index mod payload length), the
quantisation of s0 and the vote rule are imwatermark's, so either implementation reads
the other's marks. Two deliberate differences improve image quality without changing
what a decoder reads: the inverse DWT puts the H and V bands back where they came from
(imwatermark swaps them, costing ~20 dB PSNR), and the result is rounded rather than
truncated to uint8.
"""

from __future__ import annotations

import cv2
import numpy as np
import pywt

from services.provenance.invisible import (
    PAYLOAD_BITS,
    PAYLOAD_BYTES,
    DecodedMark,
    can_carry_mark,
    vote_separation,
)

BLOCK = 4
U_CHANNEL = 1


def _dct_basis(n: int = BLOCK) -> np.ndarray:
    """Orthonormal DCT-II matrix: `dct(X) = D @ X @ D.T`, identical to cv2.dct for n x n blocks."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    basis = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    basis[0] /= np.sqrt(2)
    return basis


_DCT = _dct_basis()


def _blocks(band: np.ndarray) -> tuple[np.ndarray, int, int]:
    """(N, 4, 4) view of the band's whole 4x4 blocks in row-major order, plus the grid shape."""
    rows, cols = band.shape[0] // BLOCK, band.shape[1] // BLOCK
    grid = band[: rows * BLOCK, : cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK).swapaxes(1, 2)
    return grid.reshape(rows * cols, BLOCK, BLOCK), rows, cols


def _largest_singular_value(matrices: np.ndarray) -> np.ndarray:
    """s0 of each matrix, as the root of AᵀA's top eigenvalue (batched eigh is ~4x faster than svd)."""
    gram = np.swapaxes(matrices, 1, 2) @ matrices
    return np.sqrt(np.maximum(np.linalg.eigvalsh(gram)[:, -1], 0.0))


def _top_singular_triplet(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(s0, u0, v0) of each matrix from the eigen-decomposition of AᵀA; u0 = A v0 / s0."""
    eigenvalues, eigenvectors = np.linalg.eigh(np.swapaxes(matrices, 1, 2) @ matrices)
    s0 = np.sqrt(np.maximum(eigenvalues[:, -1], 0.0))
    v0 = eigenvectors[:, :, -1]
    u0 = (matrices @ v0[:, :, None])[:, :, 0]
    nonzero = s0 > 1e-9
    u0[nonzero] /= s0[nonzero, None]
    u0[~nonzero] = np.eye(BLOCK)[0]  # a zero block: any unit vector is a singular vector
    return s0, u0, v0


class VectorisedDwtDctSvdCodec:
    """`WatermarkCodec` computing imwatermark's dwtDctSvd mark with batched numpy."""

    def __init__(self, scale: int = 36) -> None:
        self._scale = float(scale)

    def embed(self, rgb: np.ndarray, payload: bytes) -> np.ndarray:
        if len(payload) != PAYLOAD_BYTES:
            raise ValueError(f"payload must be {PAYLOAD_BYTES} bytes")
        height, width = rgb.shape[:2]
        if not can_carry_mark(width, height):
            raise ValueError("image too small for the watermark")
        bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8)).astype(np.float64)
        yuv = cv2.cvtColor(np.ascontiguousarray(rgb[:, :, ::-1]), cv2.COLOR_BGR2YUV)
        h4, w4 = height // 4 * 4, width // 4 * 4
        approximation, details = pywt.dwt2(yuv[:h4, :w4, U_CHANNEL].astype(np.float64), "haar")
        blocks, rows, cols = _blocks(approximation)
        coefficients = _DCT @ blocks @ _DCT.T
        s0, u0, v0 = _top_singular_triplet(coefficients)
        wanted = bits[np.arange(len(blocks)) % PAYLOAD_BITS]
        delta = (np.floor(s0 / self._scale) + 0.25 + 0.5 * wanted) * self._scale - s0
        coefficients += delta[:, None, None] * (u0[:, :, None] @ v0[:, None, :])
        marked_blocks = _DCT.T @ coefficients @ _DCT
        marked = approximation.copy()
        marked[: rows * BLOCK, : cols * BLOCK] = (
            marked_blocks.reshape(rows, cols, BLOCK, BLOCK).swapaxes(1, 2).reshape(rows * BLOCK, cols * BLOCK)
        )
        channel = pywt.idwt2((marked, details), "haar")
        yuv[:h4, :w4, U_CHANNEL] = np.clip(np.rint(channel), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)[:, :, ::-1])

    def decode(self, rgb: np.ndarray) -> DecodedMark:
        height, width = rgb.shape[:2]
        if not can_carry_mark(width, height):
            return DecodedMark(np.zeros(PAYLOAD_BITS, dtype=bool), 0.5)
        yuv = cv2.cvtColor(np.ascontiguousarray(rgb[:, :, ::-1]), cv2.COLOR_BGR2YUV)
        h4, w4 = height // 4 * 4, width // 4 * 4
        approximation, _ = pywt.dwt2(yuv[:h4, :w4, U_CHANNEL].astype(np.float64), "haar")
        blocks, _, _ = _blocks(approximation)
        s0 = _largest_singular_value(_DCT @ blocks @ _DCT.T)
        votes = (np.mod(s0, self._scale) > self._scale * 0.5).astype(np.float64)
        slot = np.arange(len(votes)) % PAYLOAD_BITS
        counts = np.bincount(slot, minlength=PAYLOAD_BITS)
        shares = np.bincount(slot, weights=votes, minlength=PAYLOAD_BITS) / np.maximum(counts, 1)
        shares[counts == 0] = 0.5
        bits = shares > 0.5
        return DecodedMark(bits, vote_separation(shares, bits))
