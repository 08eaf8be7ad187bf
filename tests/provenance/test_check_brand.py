"""ProvenanceService.CheckBrandImage over real gRPC: the logo check Finalize does, asked for up front.

The hostile logos here are also what the gateway's tests send (tests/gateway/test_brand_check.py),
so both layers are held to the same cases.
"""

from __future__ import annotations

import asyncio
import base64
import io
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image

from imgen.provenance.v1 import provenance_pb2, provenance_pb2_grpc
from services.provenance.brand import BrandLimits, check_data_uri, decode_data_uri
from services.provenance.main import SERVICE_NAMES, Settings, build_runtime
from services.shared.errors import InvalidArgument


def as_data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid PNG header claiming ``width``x``height`` grey pixels, with a few rows of data.

    Built by hand so the test never allocates the 900 Mpx a real one would need; the
    header alone must be enough to refuse it.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def small_png() -> bytes:
    return encoded(Image.new("RGBA", (48, 32), (200, 30, 30, 180)), "PNG")


#: (label, wm_image, a fragment the refusal message must contain).
HOSTILE_LOGOS: list[tuple[str, str, str]] = [
    ("decompression bomb", as_data_uri("image/png", bomb_png()), "pixels"),
    ("truncated png", as_data_uri("image/png", small_png()[: len(small_png()) // 2]), "truncated"),
    ("gif", as_data_uri("image/gif", encoded(Image.new("P", (8, 8)), "GIF")), "image/gif is not supported"),
    ("gif labelled png", as_data_uri("image/png", encoded(Image.new("P", (8, 8)), "GIF")), "declared type"),
    ("png labelled jpeg", as_data_uri("image/jpeg", small_png()), "declared type"),
    ("not an image", as_data_uri("image/png", b"<script>alert(1)</script>" * 4), "declared type"),
]


@pytest.mark.parametrize(("label", "uri", "fragment"), HOSTILE_LOGOS, ids=[c[0] for c in HOSTILE_LOGOS])
def test_check_refuses_what_finalize_refuses(label: str, uri: str, fragment: str) -> None:
    limits = BrandLimits()
    with pytest.raises(InvalidArgument) as checked:
        check_data_uri(uri, limits)
    with pytest.raises(InvalidArgument) as decoded:
        decode_data_uri(uri, limits)
    assert str(checked.value) == str(decoded.value)
    assert fragment in str(checked.value), (label, str(checked.value))


@pytest.mark.parametrize(
    ("fmt", "mime", "reported"),
    [
        ("PNG", "image/png", "image/png"),
        ("JPEG", "image/jpg", "image/jpeg"),
        ("WEBP", "image/webp", "image/webp"),
    ],
)
def test_check_reports_a_usable_logo(fmt: str, mime: str, reported: str) -> None:
    logo = Image.new("RGB", (40, 24), (10, 120, 200))
    info = check_data_uri(as_data_uri(mime, encoded(logo, fmt)), BrandLimits())
    assert (info.width, info.height, info.mime_type) == (40, 24, reported)


def test_pixel_limit_is_the_configured_one() -> None:
    uri = as_data_uri("image/png", encoded(Image.new("L", (100, 100)), "PNG"))
    assert check_data_uri(uri, BrandLimits(max_pixels=10_000)).width == 100
    with pytest.raises(InvalidArgument, match="at most 9999"):
        check_data_uri(uri, BrandLimits(max_pixels=9_999))


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[provenance_pb2_grpc.ProvenanceServiceStub]:
    settings = Settings(port=0, data_dir=tmp_path, shutdown_grace_s=0.2, log_format="json")
    runtime = build_runtime(settings)
    task = asyncio.create_task(runtime.run(SERVICE_NAMES))
    try:
        for _ in range(400):
            if task.done():
                task.result()
            if runtime.bound_port:
                break
            await asyncio.sleep(0.01)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.bound_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(300):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAMES[0]), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("provenance never became SERVING")
            yield provenance_pb2_grpc.ProvenanceServiceStub(channel)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_rpc_answers_size_and_type(stub: provenance_pb2_grpc.ProvenanceServiceStub) -> None:
    uri = as_data_uri("image/png", small_png())
    reply = await stub.CheckBrandImage(provenance_pb2.CheckBrandImageRequest(image_data_uri=uri), timeout=10)
    assert (reply.width, reply.height, reply.mime_type) == (48, 32, "image/png")


async def test_rpc_refuses_hostile_logos_with_the_reason(
    stub: provenance_pb2_grpc.ProvenanceServiceStub,
) -> None:
    for label, uri, fragment in [*HOSTILE_LOGOS, ("empty", "", "data URI")]:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.CheckBrandImage(provenance_pb2.CheckBrandImageRequest(image_data_uri=uri), timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, label
        assert fragment in (error.value.details() or ""), (label, error.value.details())
