"""Invisible watermark: a 64-bit payload that ties a file back to its generation.

The payload is the first 8 bytes of HMAC-SHA256(key, gen_id): anyone can read the bits,
but only the holder of the service key can produce (or check) the payload of a given
generation, so a mark cannot be forged onto someone else's image to pass it off as ours.

The embedding is imwatermark's `dwtDctSvd` (robust to JPEG 80 and 50% resizes). Each
payload bit is written into every 64th 4x4 block of the Haar-DWT approximation band of
the U channel, so a decoder sees a few hundred votes per bit: on a marked image nearly
all votes agree, on an unmarked one they split ~50/50; how far apart the votes of
the 1-bits and the 0-bits are is the confidence (see `vote_separation`).
`WatermarkCodec` is the seam for a faster vectorised implementation.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

PAYLOAD_BYTES = 8
PAYLOAD_BITS = PAYLOAD_BYTES * 8
KEY_BYTES = 32
#: imwatermark refuses images with fewer pixels than this.
MIN_PIXELS = 256 * 256


@dataclass(frozen=True)
class DecodedMark:
    """What a decoder read: the payload bits and how unanimous their votes were."""

    bits: np.ndarray  # bool, PAYLOAD_BITS long
    confidence: float  # 0.5 (noise) to 1.0 (every vote agrees); see vote_separation

    @property
    def payload(self) -> bytes:
        return np.packbits(self.bits.astype(np.uint8)).tobytes()

    def agreement(self, expected: bytes) -> float:
        """Share of bits equal to ``expected``'s: ~0.5 for a stranger's image."""
        expected_bits = np.unpackbits(np.frombuffer(expected, dtype=np.uint8)).astype(bool)
        return float(np.mean(expected_bits == self.bits))


class WatermarkCodec(Protocol):
    """Embeds and reads a payload in RGB uint8 pixels (H, W, 3)."""

    def embed(self, rgb: np.ndarray, payload: bytes) -> np.ndarray: ...

    def decode(self, rgb: np.ndarray) -> DecodedMark: ...


def payload_for(key: bytes, gen_id: str) -> bytes:
    """The generation's payload: unforgeable without ``key``, stable for a given gen_id."""
    return hmac.new(key, gen_id.encode("utf-8"), hashlib.sha256).digest()[:PAYLOAD_BYTES]


def can_carry_mark(width: int, height: int) -> bool:
    """Whether an image is large enough to hold the mark."""
    return width * height >= MIN_PIXELS


def load_or_create_key(path: Path) -> bytes:
    """Read the watermark key from ``path``, creating a random one (0600) the first time.

    The key is stored hex-encoded; losing it means old images can no longer be tied to
    their generations, so it is never regenerated when the file exists.
    """
    if path.exists():
        text = path.read_text().strip()
        try:
            key = bytes.fromhex(text)
        except ValueError as exc:
            raise ValueError(f"watermark key file {path} is not hex") from exc
        if len(key) < 16:
            raise ValueError(f"watermark key file {path} holds fewer than 16 bytes")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_key(path)  # another replica won the race; use its key
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
    return key


class DwtDctSvdCodec:
    """imwatermark's `dwtDctSvd`, with the per-bit vote shares kept for a confidence."""

    def __init__(self, scale: int = 36) -> None:
        # Importing imwatermark imports torch (~2 s): pay it when the codec is built.
        from imwatermark.dwtDctSvd import EmbedDwtDctSvd
        from imwatermark.watermark import WatermarkEncoder

        self._embedder_type = EmbedDwtDctSvd
        self._encoder_type = WatermarkEncoder
        self._scales = [0, scale, 0]

    def embed(self, rgb: np.ndarray, payload: bytes) -> np.ndarray:
        if len(payload) != PAYLOAD_BYTES:
            raise ValueError(f"payload must be {PAYLOAD_BYTES} bytes")
        encoder = self._encoder_type()
        encoder.set_watermark("bytes", payload)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        marked = encoder.encode(bgr, "dwtDctSvd", scales=self._scales)
        return np.ascontiguousarray(marked[:, :, ::-1])

    def decode(self, rgb: np.ndarray) -> DecodedMark:
        import cv2
        import pywt

        height, width = rgb.shape[:2]
        if not can_carry_mark(width, height):
            return DecodedMark(np.zeros(PAYLOAD_BITS, dtype=bool), 0.5)
        embedder = self._embedder_type(watermarks=[], wmLen=PAYLOAD_BITS, scales=self._scales)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
        votes: list[list[int]] = [[] for _ in range(PAYLOAD_BITS)]
        for channel, scale in enumerate(self._scales):
            if scale <= 0:
                continue
            band = yuv[: height // 4 * 4, : width // 4 * 4, channel]
            approximation, _ = pywt.dwt2(band, "haar")
            votes = embedder.decode_frame(approximation, scale, votes)
        shares = np.array([np.mean(v) if v else 0.5 for v in votes])
        bits = shares > 0.5
        return DecodedMark(bits, vote_separation(shares, bits))


def vote_separation(shares: np.ndarray, bits: np.ndarray) -> float:
    """Confidence from per-bit vote shares: 0.5 + half the gap between the 1-bits' and 0-bits' shares.

    On a marked image the 1-bits are voted ~100% and the 0-bits ~0%, giving ~1.0. On an
    unmarked one the shares hover around 0.5 (~0.52). Flat areas vote the same way for
    every bit, which would make a naive "how unanimous" score read 1.0 on a blank image;
    measuring the gap *between* the two groups cancels that common bias, and a decode
    where all bits agree (no gap to measure, never an HMAC payload in practice) is 0.5.
    """
    ones, zeros = shares[bits], shares[~bits]
    if ones.size == 0 or zeros.size == 0:
        return 0.5
    return float(0.5 + (ones.mean() - zeros.mean()) / 2)


def realign_crop(cropped: np.ndarray, offset_x: int, offset_y: int, width: int, height: int) -> np.ndarray:
    """Put a crop back on the original's block grid so its mark decodes.

    The payload's bit of a block follows from the block's position in the original
    image, so a crop taken at a known ``(offset_x, offset_y)`` out of a ``width`` x
    ``height`` image is pasted back at that offset on a canvas of the original size; the
    cut-off margins are filled with the crop's edge pixels, whose blocks vote at random
    and are outvoted by the intact ones.
    """
    crop_height, crop_width = cropped.shape[:2]
    if offset_x < 0 or offset_y < 0 or offset_x + crop_width > width or offset_y + crop_height > height:
        raise ValueError("the crop does not fit inside the original at that offset")
    pad = ((offset_y, height - offset_y - crop_height), (offset_x, width - offset_x - crop_width), (0, 0))
    return np.pad(cropped, pad, mode="edge")
