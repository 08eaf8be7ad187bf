"""gRPC glue for StorageService: messages in, :class:`ObjectStore` calls, messages out.

Store calls block (disk, network), so each runs in a worker thread; presigning is
pure computation and runs inline, which keeps PresignUrls well under a millisecond.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import grpc

from imgen.storage.v1 import storage_pb2, storage_pb2_grpc
from services.storage.backend import DEFAULT_CONTENT_TYPE, ObjectStore
from services.storage.keys import validate_key, validate_prefix
from services.storage.limits import (
    effective_ttl,
    validate_cache_control,
    validate_content_type,
    validate_key_count,
)


class StorageServicer(storage_pb2_grpc.StorageServiceServicer):
    """Serves one :class:`ObjectStore` with the configured URL lifetimes and defaults."""

    def __init__(
        self, store: ObjectStore, url_ttl_s: int, url_max_ttl_s: int, default_cache_control: str
    ) -> None:
        self._store = store
        self._ttl = url_ttl_s
        self._max_ttl = url_max_ttl_s
        self._default_cache_control = validate_cache_control(default_cache_control)

    async def PutObject(
        self, request: storage_pb2.PutObjectRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.PutObjectResponse:
        key = validate_key(request.key)
        content_type = validate_content_type(request.content_type or DEFAULT_CONTENT_TYPE)
        cache_control = validate_cache_control(request.cache_control or self._default_cache_control)
        stored = await asyncio.to_thread(self._store.put, key, request.data, content_type, cache_control)
        return storage_pb2.PutObjectResponse(key=stored.key, size=stored.size, sha256=stored.sha256)

    async def PresignUrls(
        self, request: storage_pb2.PresignUrlsRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.PresignUrlsResponse:
        validate_key_count(len(request.keys))
        keys = [validate_key(key) for key in request.keys]
        ttl = effective_ttl(request.expires_in_seconds, self._ttl, self._max_ttl)
        urls = [self._store.presign(key, ttl) for key in keys]
        return storage_pb2.PresignUrlsResponse(
            urls=[storage_pb2.SignedUrl(key=u.key, url=u.url, expires_at=u.expires_at) for u in urls]
        )

    async def ReadSignedObject(
        self, request: storage_pb2.ReadSignedObjectRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[storage_pb2.ReadSignedObjectResponse]:
        meta, chunks = await asyncio.to_thread(
            self._store.open_signed, request.key, request.expires, request.signature
        )
        try:
            first = await asyncio.to_thread(next, chunks, b"")
            yield storage_pb2.ReadSignedObjectResponse(
                content_type=meta.content_type, size=meta.size, cache_control=meta.cache_control, chunk=first
            )
            while chunk := await asyncio.to_thread(next, chunks, b""):
                yield storage_pb2.ReadSignedObjectResponse(chunk=chunk)
        finally:
            _close(chunks)

    async def DeleteObjects(
        self, request: storage_pb2.DeleteObjectsRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.DeleteObjectsResponse:
        validate_key_count(len(request.keys))
        keys = [validate_key(key) for key in request.keys]
        prefix = validate_prefix(request.prefix) if request.prefix else ""
        deleted = await asyncio.to_thread(self._store.delete, keys) if keys else 0
        if prefix:
            deleted += await asyncio.to_thread(self._store.delete_prefix, prefix)
        return storage_pb2.DeleteObjectsResponse(deleted=deleted)


def _close(chunks: Iterator[bytes]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
