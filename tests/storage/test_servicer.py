"""StorageService over real gRPC: an in-process ServiceRuntime on a free port."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import grpc
import httpx
import pytest

from imgen.storage.v1 import storage_pb2, storage_pb2_grpc
from services.storage.local import CHUNK_SIZE, sign
from services.storage.main import Settings
from services.storage.signing_key import load_or_create_signing_key

from .seaweed import SeaweedServer
from .service_runner import running


def local_settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(port=0, host="127.0.0.1", data_dir=tmp_path, shutdown_grace_s=0.5, **overrides)


async def read_all(
    stub: storage_pb2_grpc.StorageServiceStub, url: str
) -> list[storage_pb2.ReadSignedObjectResponse]:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    request = storage_pb2.ReadSignedObjectRequest(
        key=parts.path.removeprefix("/files/"), expires=int(query["expires"]), signature=query["signature"]
    )
    return [message async for message in stub.ReadSignedObject(request, timeout=10)]


async def test_put_presign_and_stream_back(tmp_path: Path) -> None:
    data = os.urandom(CHUNK_SIZE * 2 + 100)
    key = "images/2026/11/23/abcdefghij0123456789/abcdefghij0123456789_ff_00001.png"
    async with running(local_settings(tmp_path, public_base_url="https://img.example.com/")) as stub:
        put = await stub.PutObject(
            storage_pb2.PutObjectRequest(key=key, data=data, content_type="image/png"), timeout=10
        )
        assert (put.key, put.size, put.sha256) == (key, len(data), hashlib.sha256(data).hexdigest())

        urls = (
            await stub.PresignUrls(storage_pb2.PresignUrlsRequest(keys=[key, "x/y.jpg"]), timeout=10)
        ).urls
        assert [u.key for u in urls] == [key, "x/y.jpg"]
        assert urls[0].url.startswith(
            f"https://img.example.com/files/{key}?expires={urls[0].expires_at}&signature="
        )

        messages = await read_all(stub, urls[0].url)
        assert [len(m.chunk) for m in messages] == [CHUNK_SIZE, CHUNK_SIZE, 100]
        first = messages[0]
        assert (first.content_type, first.size) == ("image/png", len(data))
        assert first.cache_control == "private, max-age=86400, immutable"  # the configured default
        assert b"".join(m.chunk for m in messages) == data


async def test_presign_ttl_default_request_and_cap(tmp_path: Path) -> None:
    async with running(local_settings(tmp_path, url_ttl_s=100, url_max_ttl_s=1000)) as stub:
        default, asked, capped = [
            (await stub.PresignUrls(storage_pb2.PresignUrlsRequest(keys=["k"], expires_in_seconds=ttl))).urls[
                0
            ]
            for ttl in (0, 500, 10**6)
        ]
        base = default.expires_at - 100
        assert asked.expires_at - base in (500, 501)
        assert capped.expires_at - base in (1000, 1001)


async def test_presign_signs_afresh_each_call(tmp_path: Path) -> None:
    async with running(local_settings(tmp_path, url_ttl_s=100)) as stub:
        first = (await stub.PresignUrls(storage_pb2.PresignUrlsRequest(keys=["k"]))).urls[0]
        await asyncio.sleep(1.05)
        second = (await stub.PresignUrls(storage_pb2.PresignUrlsRequest(keys=["k"]))).urls[0]
        assert second.expires_at > first.expires_at and second.url != first.url


async def test_read_errors_map_to_status_codes(tmp_path: Path) -> None:
    async with running(local_settings(tmp_path)) as stub:
        await stub.PutObject(
            storage_pb2.PutObjectRequest(key="a/b.jpg", data=b"x", content_type="image/jpeg")
        )
        secret = load_or_create_signing_key(tmp_path / "storage" / "url-signing.key")
        cases = {
            "expired": (
                storage_pb2.ReadSignedObjectRequest(
                    key="a/b.jpg", expires=1000, signature=sign(secret, "a/b.jpg", 1000)
                ),
                grpc.StatusCode.PERMISSION_DENIED,
                "URL expired",
            ),
            "tampered": (
                storage_pb2.ReadSignedObjectRequest(key="a/b.jpg", expires=2**40, signature="ab" * 32),
                grpc.StatusCode.PERMISSION_DENIED,
                "invalid signature",
            ),
            "missing": (
                storage_pb2.ReadSignedObjectRequest(
                    key="a/c.jpg", expires=2**40, signature=sign(secret, "a/c.jpg", 2**40)
                ),
                grpc.StatusCode.NOT_FOUND,
                "object not found",
            ),
        }
        for request, code, message in cases.values():
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                [m async for m in stub.ReadSignedObject(request, timeout=10)]
            assert (caught.value.code(), caught.value.details()) == (code, message)


@pytest.mark.parametrize(
    "request_",
    [
        storage_pb2.PutObjectRequest(key="../escape", data=b"x"),
        storage_pb2.PutObjectRequest(key="/etc/passwd", data=b"x"),
        storage_pb2.PutObjectRequest(key="ok.jpg", data=b"x", content_type="image/jpeg\r\nX-Evil: 1"),
        storage_pb2.PutObjectRequest(key="ok.jpg", data=b"x", cache_control="no-store\nSet-Cookie: a"),
    ],
)
async def test_bad_put_is_invalid_argument_and_writes_nothing(
    tmp_path: Path, request_: storage_pb2.PutObjectRequest
) -> None:
    async with running(local_settings(tmp_path)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.PutObject(request_, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert not any((tmp_path / "objects").rglob("*"))


async def test_delete_by_keys_and_prefix(tmp_path: Path) -> None:
    async with running(local_settings(tmp_path)) as stub:
        for key in ("g/1/a.jpg", "g/1/b.jpg", "g/2/a.jpg", "h/a.jpg"):
            await stub.PutObject(storage_pb2.PutObjectRequest(key=key, data=b"x", content_type="image/jpeg"))
        reply = await stub.DeleteObjects(
            storage_pb2.DeleteObjectsRequest(keys=["h/a.jpg", "h/none.jpg"], prefix="g/1/")
        )
        assert reply.deleted == 3
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.DeleteObjects(storage_pb2.DeleteObjectsRequest(keys=["g/2/a.jpg"], prefix="../"))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [
        p.relative_to(tmp_path / "objects").as_posix() for p in (tmp_path / "objects").rglob("*.jpg")
    ] == ["g/2/a.jpg"]


async def test_s3_backend_over_grpc(seaweed: SeaweedServer, tmp_path: Path) -> None:
    settings = local_settings(
        tmp_path,
        backend="s3",
        s3_bucket="grpc-bucket",
        s3_create_bucket=True,
        s3_endpoint_url=seaweed.endpoint_url,
        s3_addressing_style="path",
        s3_access_key_id=seaweed.access_key,
        s3_secret_access_key=seaweed.secret_key,
    )
    async with running(settings) as stub:
        await stub.PutObject(
            storage_pb2.PutObjectRequest(key="s/a.webp", data=b"webp", content_type="image/webp")
        )
        url = (await stub.PresignUrls(storage_pb2.PresignUrlsRequest(keys=["s/a.webp"]))).urls[0].url
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        assert (response.status_code, response.content) == (200, b"webp")
        assert response.headers["cache-control"] == "private, max-age=86400, immutable"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            [m async for m in stub.ReadSignedObject(storage_pb2.ReadSignedObjectRequest(key="s/a.webp"))]
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        reply = await stub.DeleteObjects(storage_pb2.DeleteObjectsRequest(prefix="s/"))
        assert reply.deleted == 1
