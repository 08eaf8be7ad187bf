"""DependencyUnavailable over real gRPC: UNAVAILABLE plus trailing metadata that says why.

A plain UNAVAILABLE (the service is unreachable) must stay distinguishable from "the
service answered, but a store it needs is down"; the trailing metadata is what carries it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from imgen.storage.v1 import storage_pb2, storage_pb2_grpc
from services.shared.errors import DependencyUnavailable, Unavailable
from services.shared.interceptors import ServerInterceptor


class _OutageStorage(storage_pb2_grpc.StorageServiceServicer):
    """Raises the error named by the request's key, in a unary and a streaming handler."""

    async def PutObject(
        self, request: storage_pb2.PutObjectRequest, context: object
    ) -> storage_pb2.PutObjectResponse:
        if request.key == "plain":
            raise Unavailable("object store unreachable")
        raise DependencyUnavailable("object store", retry_after_s=5)

    async def ReadSignedObject(
        self, request: storage_pb2.ReadSignedObjectRequest, context: object
    ) -> AsyncIterator[storage_pb2.ReadSignedObjectResponse]:
        yield storage_pb2.ReadSignedObjectResponse(content_type="text/plain", chunk=b"a")
        raise DependencyUnavailable("object store")


@pytest.fixture
async def stub() -> AsyncIterator[storage_pb2_grpc.StorageServiceStub]:
    server = grpc.aio.server(interceptors=[ServerInterceptor("outage-test")])
    storage_pb2_grpc.add_StorageServiceServicer_to_server(_OutageStorage(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield storage_pb2_grpc.StorageServiceStub(channel)
    finally:
        await server.stop(0)


def _trailing(error: grpc.aio.AioRpcError) -> dict[str, str]:
    return {str(key): str(value) for key, value in error.trailing_metadata() or ()}


async def test_unary_outage_carries_kind_dependency_and_retry_after(
    stub: storage_pb2_grpc.StorageServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as outage:
        await stub.PutObject(storage_pb2.PutObjectRequest(key="dependency"), timeout=5)
    assert outage.value.code() is grpc.StatusCode.UNAVAILABLE
    assert outage.value.details() == "object store unavailable"
    trailing = _trailing(outage.value)
    assert trailing["imgen-unavailable"] == "dependency"
    assert trailing["imgen-dependency"] == "object store"
    assert trailing["retry-after-s"] == "5"


async def test_plain_unavailable_has_no_dependency_metadata(
    stub: storage_pb2_grpc.StorageServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as plain:
        await stub.PutObject(storage_pb2.PutObjectRequest(key="plain"), timeout=5)
    assert plain.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "imgen-unavailable" not in _trailing(plain.value)


async def test_streaming_outage_carries_the_metadata_too(stub: storage_pb2_grpc.StorageServiceStub) -> None:
    call = stub.ReadSignedObject(storage_pb2.ReadSignedObjectRequest(key="x"), timeout=5)
    chunks: list[bytes] = []
    with pytest.raises(grpc.aio.AioRpcError) as outage:
        async for item in call:
            chunks.append(item.chunk)
    assert chunks == [b"a"]
    assert outage.value.code() is grpc.StatusCode.UNAVAILABLE
    trailing = _trailing(outage.value)
    assert trailing["imgen-unavailable"] == "dependency"
    assert trailing["retry-after-s"] == "2"
