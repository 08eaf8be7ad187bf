"""Vectorised `dwtDctSvd`: the same mark as imwatermark's, tens of times faster.

imwatermark takes the one-level Haar DWT of the U channel, cuts the approximation band
into 4x4 blocks, DCTs each block, and moves each block's largest singular value s0 onto
a lattice that encodes one payload bit; it loops in Python over 16k blocks at 1344x768.

Here the whole chain is linear algebra on 8x8 pixel blocks. The Haar approximation of an
8x8 block is ``H X Hᵀ`` (H: 4x8, pairs of 1/√2) and its DCT ``D (H X Hᵀ) Dᵀ``, so the
DCT coefficients are ``P X Pᵀ`` with ``P = D H`` (4x8): two large matrix products for the
whole image, no DWT pass. Changing s0 by δ adds the rank-one ``δ u0 v0ᵀ`` to the
coefficients; P has orthonormal rows, so with the detail bands untouched the inverse DCT
and inverse DWT map it to the rank-one pixel change ``δ (Pᵀu0)(Pᵀv0)ᵀ``. The top singular
triplet of each 4x4 block comes from a few batched power iterations on ``CᵀC`` (the DC
term dominates, so they converge to machine precision almost everywhere); the rare
blocks whose residual is not negligible fall back to a batched eigen-decomposition, so
the votes equal the reference's exactly.

Compatibility: block order, bit assignment (block index mod payload length), the
quantisation of s0 and the vote rule are imwatermark's, so either implementation reads
the other's marks. Two deliberate differences improve image quality without changing
what a decoder reads: the detail bands go back where they came from (imwatermark's
inverse DWT swaps H and V, costing ~20 dB PSNR), and the result is rounded rather than
truncated to uint8.
"""

from __future__ import annotations

import cv2
import numpy as np

from services.provenance.invisible import (
    PAYLOAD_BITS,
    PAYLOAD_BYTES,
    DecodedMark,
    can_carry_mark,
    vote_separation,
)

BLOCK = 4
PIXEL_BLOCK = 2 * BLOCK  # a 4x4 block of the half-resolution DWT band covers 8x8 pixels
U_CHANNEL = 1
POWER_ITERATIONS = 4
#: Relative residual under which a power-iteration eigenvalue is taken as exact.
RESIDUAL_TOLERANCE = 1e-12


def _dct_basis(n: int = BLOCK) -> np.ndarray:
    """Orthonormal DCT-II matrix: `dct(X) = D @ X @ D.T`, identical to cv2.dct for n x n blocks."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    basis = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    basis[0] /= np.sqrt(2)
    return basis


def _haar_approximation(n: int = BLOCK) -> np.ndarray:
    """(n, 2n) matrix of pywt's one-level Haar approximation along one axis."""
    haar = np.zeros((n, 2 * n))
    for row in range(n):
        haar[row, 2 * row : 2 * row + 2] = 1 / np.sqrt(2)
    return haar


#: Pixel 8x8 block → DCT coefficients of its Haar approximation: C = P X Pᵀ.
_P = _dct_basis() @ _haar_approximation()


def _u_channel(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(YUV uint8 image, its U channel) exactly as imwatermark computes them (OpenCV BGR→YUV)."""
    yuv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV)
    return yuv, yuv[:, :, U_CHANNEL]


def _grid(height: int, width: int) -> tuple[int, int]:
    """Rows and columns of whole 4x4 blocks in the DWT band of an image cropped to multiples of 4."""
    return (height // 4 * 4) // 2 // BLOCK, (width // 4 * 4) // 2 // BLOCK


def _coefficients(channel: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(rows*cols, 4, 4) DCT coefficients of every block's Haar approximation, row-major."""
    pixels = channel[: rows * PIXEL_BLOCK, : cols * PIXEL_BLOCK].astype(np.float64)
    # Along the rows of each block: (rows, 8, W) -> (rows, 4, W).
    left = np.matmul(_P, pixels.reshape(rows, PIXEL_BLOCK, cols * PIXEL_BLOCK))
    # Along the columns: one (rows*4*cols, 8) @ (8, 4) product.
    both = left.reshape(rows * BLOCK * cols, PIXEL_BLOCK) @ _P.T
    return both.reshape(rows, BLOCK, cols, BLOCK).transpose(0, 2, 1, 3).reshape(rows * cols, BLOCK, BLOCK)


def _top_eigenpairs(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest eigenvalue and its unit eigenvector of each symmetric 4x4 ``gram``.

    Power iteration from the first column (the DC direction, which dominates image
    blocks); blocks whose residual stays above the tolerance are redone with eigh.
    """
    vector = gram[:, :, 0].copy()
    for _ in range(POWER_ITERATIONS):
        vector /= np.maximum(np.linalg.norm(vector, axis=1, keepdims=True), 1e-300)
        vector = np.matmul(gram, vector[:, :, None])[:, :, 0]
    vector /= np.maximum(np.linalg.norm(vector, axis=1, keepdims=True), 1e-300)
    image = np.matmul(gram, vector[:, :, None])[:, :, 0]
    value = np.einsum("ij,ij->i", vector, image)
    residual = np.linalg.norm(image - value[:, None] * vector, axis=1)
    scale = np.abs(gram).max(axis=(1, 2))
    unsure = np.flatnonzero(residual > RESIDUAL_TOLERANCE * np.maximum(scale, 1e-300))
    if unsure.size:
        values, vectors = np.linalg.eigh(gram[unsure])
        value[unsure] = values[:, -1]
        vector[unsure] = vectors[:, :, -1]
    return np.maximum(value, 0.0), vector


def _top_singular_triplet(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(s0, u0, v0) of each 4x4 block: v0 from AᵀA, u0 = A v0 / s0."""
    eigenvalue, v0 = _top_eigenpairs(np.matmul(blocks.transpose(0, 2, 1), blocks))
    s0 = np.sqrt(eigenvalue)
    u0 = np.matmul(blocks, v0[:, :, None])[:, :, 0]
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
        yuv, channel = _u_channel(rgb)
        rows, cols = _grid(height, width)
        coefficients = _coefficients(channel, rows, cols)
        s0, u0, v0 = _top_singular_triplet(coefficients)
        wanted = bits[np.arange(len(s0)) % PAYLOAD_BITS]
        delta = (np.floor(s0 / self._scale) + 0.25 + 0.5 * wanted) * self._scale - s0
        left = (u0 @ _P) * delta[:, None]  # (n, 8): δ Pᵀu0
        right = v0 @ _P  # (n, 8): Pᵀv0
        change = (left[:, :, None] * right[:, None, :]).reshape(rows, cols, PIXEL_BLOCK, PIXEL_BLOCK)
        region = channel[: rows * PIXEL_BLOCK, : cols * PIXEL_BLOCK]
        marked = region + change.transpose(0, 2, 1, 3).reshape(region.shape)
        yuv[: rows * PIXEL_BLOCK, : cols * PIXEL_BLOCK, U_CHANNEL] = np.clip(np.rint(marked), 0, 255)
        return cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB)

    def decode(self, rgb: np.ndarray) -> DecodedMark:
        height, width = rgb.shape[:2]
        if not can_carry_mark(width, height):
            return DecodedMark(np.zeros(PAYLOAD_BITS, dtype=bool), 0.5)
        _, channel = _u_channel(rgb)
        rows, cols = _grid(height, width)
        blocks = _coefficients(channel, rows, cols)
        eigenvalue, _ = _top_eigenpairs(np.matmul(blocks.transpose(0, 2, 1), blocks))
        s0 = np.sqrt(eigenvalue)
        votes = (np.mod(s0, self._scale) > self._scale * 0.5).astype(np.float64)
        slot = np.arange(len(votes)) % PAYLOAD_BITS
        counts = np.bincount(slot, minlength=PAYLOAD_BITS)
        shares = np.bincount(slot, weights=votes, minlength=PAYLOAD_BITS) / np.maximum(counts, 1)
        shares[counts == 0] = 0.5
        bits = shares > 0.5
        return DecodedMark(bits, vote_separation(shares, bits))
