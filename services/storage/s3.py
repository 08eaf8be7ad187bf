"""The S3 backend, for any S3-compatible store (AWS, MinIO, SeaweedFS, R2, ...).

Clients download straight from the store with SigV4 pre-signed URLs (or plain public
URLs when a public/CDN base URL is configured), so this service never proxies bytes
on the way out. Uploads carry a SHA-256 checksum the store verifies; large ones go
multipart. Transient failures (throttling, 5xx, dropped connections) are retried by
botocore's adaptive mode with backoff; what still fails becomes ``Unavailable``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from services.shared.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from services.shared.logging import get_logger
from services.storage.backend import ObjectMeta, ObjectStore, SignedUrl, StoredObject
from services.storage.keys import validate_key, validate_prefix

log = get_logger(__name__)

#: S3's smallest multipart part (except the last).
MIN_PART_BYTES = 5 * 1024 * 1024
#: Keys per DeleteObjects request, S3's limit.
_DELETE_BATCH = 1000
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class S3Config:
    """How to reach the bucket; credentials left empty come from boto3's usual chain."""

    bucket: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    addressing_style: str = "auto"
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    sse: str | None = None
    sse_kms_key_id: str | None = None
    public_base_url: str | None = None
    max_attempts: int = 5
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    multipart_threshold_bytes: int = 16 * 1024 * 1024
    multipart_chunk_bytes: int = 8 * 1024 * 1024
    max_pool_connections: int = 20


class S3ObjectStore(ObjectStore):
    """Objects in one bucket of an S3-compatible store."""

    def __init__(self, config: S3Config, clock: Callable[[], float] = time.time) -> None:
        if not config.bucket:
            raise ValueError("s3_bucket is required for the s3 backend")
        if config.addressing_style not in {"auto", "path", "virtual"}:
            raise ValueError("s3_addressing_style must be auto, path or virtual")
        self._config = config
        self._clock = clock
        session = boto3.session.Session(
            aws_access_key_id=config.access_key_id or None,
            aws_secret_access_key=config.secret_access_key or None,
            aws_session_token=config.session_token or None,
            region_name=config.region,
        )
        self._client = session.client(
            "s3",
            endpoint_url=config.endpoint_url or None,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": config.addressing_style},
                retries={"max_attempts": config.max_attempts, "mode": "adaptive"},
                connect_timeout=config.connect_timeout_s,
                read_timeout=config.read_timeout_s,
                max_pool_connections=config.max_pool_connections,
            ),
        )
        self._transfer = TransferConfig(
            multipart_threshold=config.multipart_threshold_bytes,
            multipart_chunksize=max(MIN_PART_BYTES, config.multipart_chunk_bytes),
            max_concurrency=4,
        )
        self._public_base = (config.public_base_url or "").rstrip("/")

    @property
    def client(self) -> Any:
        """The boto3 client (for bucket setup in tools and tests)."""
        return self._client

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist (dev setups); fine if it does."""
        try:
            self._client.head_bucket(Bucket=self._config.bucket)
        except ClientError as exc:
            if _code(exc) not in _MISSING_CODES and _code(exc) != "NoSuchBucket":
                raise _unavailable("checking the bucket", exc) from exc
            self._call("creating the bucket", self._client.create_bucket, Bucket=self._config.bucket)
        except BotoCoreError as exc:
            raise _unavailable("checking the bucket", exc) from exc

    def put(self, key: str, data: bytes, content_type: str, cache_control: str) -> StoredObject:
        validate_key(key)
        digest = hashlib.sha256(data).digest()
        extra: dict[str, str] = {"ContentType": content_type}
        if cache_control:
            extra["CacheControl"] = cache_control
        if self._config.sse:
            extra["ServerSideEncryption"] = self._config.sse
            if self._config.sse_kms_key_id:
                extra["SSEKMSKeyId"] = self._config.sse_kms_key_id
        if len(data) < self._config.multipart_threshold_bytes:
            self._call(
                "uploading an object",
                self._client.put_object,
                Bucket=self._config.bucket,
                Key=key,
                Body=data,
                ChecksumSHA256=base64.b64encode(digest).decode(),
                **extra,
            )
        else:
            self._call(
                "uploading an object in parts",
                self._client.upload_fileobj,
                io.BytesIO(data),
                self._config.bucket,
                key,
                ExtraArgs={**extra, "ChecksumAlgorithm": "SHA256"},
                Config=self._transfer,
            )
        return StoredObject(key=key, size=len(data), sha256=digest.hex())

    def presign(self, key: str, expires_in: int) -> SignedUrl:
        validate_key(key)
        expires_at = int(self._clock()) + expires_in
        if self._public_base:
            url = f"{self._public_base}/{quote(key, safe='/')}"
        else:
            url = self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self._config.bucket, "Key": key}, ExpiresIn=expires_in
            )
        return SignedUrl(key=key, url=url, expires_at=expires_at)

    def open_signed(self, key: str, expires: int, signature: str) -> tuple[ObjectMeta, Iterator[bytes]]:
        raise FailedPrecondition("the s3 backend's URLs are served by the object store, not by this service")

    def delete(self, keys: Iterable[str]) -> int:
        wanted = [validate_key(key) for key in dict.fromkeys(keys)]
        existing = [key for key in wanted if self._exists(key)]
        self._delete_batch(existing)
        return len(existing)

    def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        deleted = 0
        try:
            for page in paginator.paginate(Bucket=self._config.bucket, Prefix=prefix):
                keys = [item["Key"] for item in page.get("Contents", [])]
                self._delete_batch(keys)
                deleted += len(keys)
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable("listing objects", exc) from exc
        return deleted

    def close(self) -> None:
        self._client.close()

    def _exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._config.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                return False
            raise _unavailable("checking an object", exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("checking an object", exc) from exc
        return True

    def _delete_batch(self, keys: list[str]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            response = self._call(
                "deleting objects",
                self._client.delete_objects,
                Bucket=self._config.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            errors = response.get("Errors") or []
            if errors:
                log.warning("s3 delete reported errors", count=len(errors), first_code=errors[0].get("Code"))
                raise Unavailable("object store refused to delete some objects")

    def _call(self, action: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one boto3 call, turning its failures into domain errors."""
        try:
            return method(*args, **kwargs)
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                raise NotFound("object not found") from exc
            if _code(exc) in {"InvalidArgument", "InvalidRequest", "KeyTooLongError"}:
                raise InvalidArgument(f"object store refused the request: {_code(exc)}") from exc
            raise _unavailable(action, exc) from exc
        except (BotoCoreError, OSError) as exc:
            raise _unavailable(action, exc) from exc
        except Exception as exc:  # boto3's transfer manager wraps ClientError in its own types
            if type(exc).__module__.startswith(("boto3", "s3transfer")):
                raise _unavailable(action, exc) from exc
            raise


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _unavailable(action: str, exc: Exception) -> Unavailable:
    """Log what failed (no credentials are in botocore's messages) and hide it from callers."""
    log.warning("s3 call failed", action=action, error=type(exc).__name__, detail=str(exc)[:300])
    return Unavailable(f"object store unavailable while {action}")
