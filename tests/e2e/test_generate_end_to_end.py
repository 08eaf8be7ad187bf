"""The main job through the public API, verified with independent readers.

Each check uses the libraries directly rather than our own provenance code, so a bug in
our signing or watermarking cannot hide itself: c2pa's Reader with our trust anchor,
imwatermark's own decoder, pdqhash on the downloaded pixels.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from imgen.client import ImgenClient, PollPolicy

pytestmark = pytest.mark.e2e


def _generate(mesh: Any, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    with ImgenClient(mesh.api_url, mesh.api_key) as client:
        job = client.submit(fields.pop("prompt"), **fields)
        meta = client.wait(job, PollPolicy(interval_s=0.25, max_polls=400))
    return job, meta


def _pdq_hex(image: Image.Image) -> str:
    import pdqhash

    bits, _quality = pdqhash.compute(np.asarray(image.convert("RGB")))
    return f"{int(''.join(str(int(b)) for b in bits), 2):064x}"


def test_generate_poll_download_verify(mesh: Any) -> None:
    job, meta = _generate(
        mesh,
        prompt="@aya black dress, sitting on bed, warm lighting, -red dress",
        model="eros",
        style="professional",
        format="jpeg",
        width=1344,
        height=768,
    )
    assert job["id"].startswith("run_") and len(job["gen_id"]) == 20
    assert job["prompt"] == "@aya black dress, sitting on bed, warm lighting, -red dress"
    assert meta["id"] == job["id"] and meta["gen_id"] == job["gen_id"]
    assert (meta["width"], meta["height"], meta["format"]) == (1344, 768, "jpeg")
    assert meta["character"] == "aya" and meta["compliance"] == "safe"
    assert "red dress" in meta["negative"]

    signed = next(i for i in meta["images"] if i["type"] == "signed")
    thumb = next(i for i in meta["images"] if i["type"] == "thumbnail")
    assert signed["filename"] == f"{meta['gen_id']}_{meta['fingerprint']}_00001.jpg"
    assert thumb["filename"] == f"{meta['gen_id']}_{meta['fingerprint']}_00001_thumb.jpg"

    data = httpx.get(signed["url"], timeout=30).content
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (1344, 768)
    thumb_image = Image.open(io.BytesIO(httpx.get(thumb["url"], timeout=30).content))
    assert max(thumb_image.size) <= 256

    # PDQ of the delivered pixels is the fingerprint the API reports.
    assert _pdq_hex(image) == meta["fingerprint"]

    # The C2PA manifest validates against our trust anchor, and a flipped byte breaks it.
    from c2pa import Context, Reader, Settings

    root_pem = (mesh.config.data_dir / "provenance" / "certs" / "root.pem").read_text()
    context = Context(settings=Settings.from_dict({"trust": {"trust_anchors": root_pem}}))
    with Reader("image/jpeg", io.BytesIO(data), context=context) as reader:
        assert reader.get_validation_state() == "Trusted"
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF
    with Reader("image/jpeg", io.BytesIO(bytes(tampered)), context=context) as reader:
        assert reader.get_validation_state() == "Invalid"

    # The invisible watermark decodes to the payload the job reported, and that payload is
    # the keyed MAC of this generation's id.
    from imwatermark import WatermarkDecoder

    bgr = np.asarray(image.convert("RGB"))[:, :, ::-1].copy()
    bits = WatermarkDecoder("bits", 64).decode(bgr, "dwtDctSvd")
    decoded = int("".join("1" if b else "0" for b in bits), 2).to_bytes(8, "big").hex()
    assert decoded == meta["watermark"]
    key = bytes.fromhex((mesh.config.data_dir / "provenance" / "watermark.key").read_text().strip())
    assert hmac.new(key, meta["gen_id"].encode(), hashlib.sha256).digest()[:8].hex() == meta["watermark"]


@pytest.mark.parametrize(("fmt", "pil_format"), [("png", "PNG"), ("webp", "WEBP"), ("avif", "AVIF")])
def test_other_formats_and_sizes(mesh: Any, fmt: str, pil_format: str) -> None:
    _job, meta = _generate(mesh, prompt="portrait, soft light", format=fmt, width=832, height=1216)
    signed = next(i for i in meta["images"] if i["type"] == "signed")
    image = Image.open(io.BytesIO(httpx.get(signed["url"], timeout=30).content))
    assert image.format == pil_format and image.size == (832, 1216)


def test_signed_url_refused_when_tampered(mesh: Any) -> None:
    _job, meta = _generate(mesh, prompt="a lighthouse at dusk")
    url = next(i for i in meta["images"] if i["type"] == "signed")["url"]
    assert httpx.get(url, timeout=30).status_code == 200
    tampered = url.replace("signature=", "signature=0")
    assert httpx.get(tampered, timeout=30).status_code == 403
    expired = httpx.URL(url).copy_set_param("expires", "1000")
    assert httpx.get(expired, timeout=30).status_code == 403


def test_same_seed_same_image(mesh: Any) -> None:
    _a, first = _generate(mesh, prompt="a red car", seed=1234, format="png")
    _b, second = _generate(mesh, prompt="a red car", seed=1234, format="png")
    assert first["seed"] == second["seed"] == 1234
    # The pixels differ only by each generation's own invisible watermark.
    distance = bin(int(first["fingerprint"], 16) ^ int(second["fingerprint"], 16)).count("1")
    assert distance <= 16
