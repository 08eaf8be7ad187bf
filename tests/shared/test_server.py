"""The shared bootstrap over real gRPC: health, reflection, error mapping, deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from imgen.storage.v1 import storage_pb2, storage_pb2_grpc
from services.shared.channels import open_channel
from services.shared.errors import InvalidArgument, PermissionDenied
from services.shared.server import ServiceRuntime, service_name
from services.shared.settings import ServiceSettings


class _Settings(ServiceSettings):
    section: ClassVar[str] = "bootstrap_test"


class _ProbeStorage(storage_pb2_grpc.StorageServiceServicer):
    """A servicer whose behaviour is chosen by the key, to drive the interceptor."""

    async def PutObject(
        self, request: storage_pb2.PutObjectRequest, context: object
    ) -> storage_pb2.PutObjectResponse:
        if request.key == "invalid":
            raise InvalidArgument("key is not a safe path")
        if request.key == "crash":
            raise RuntimeError("secret detail that must not leak")
        if request.key == "slow":
            await asyncio.sleep(5)
        return storage_pb2.PutObjectResponse(key=request.key, size=len(request.data))

    async def ReadSignedObject(
        self, request: storage_pb2.ReadSignedObjectRequest, context: object
    ) -> AsyncIterator[storage_pb2.ReadSignedObjectResponse]:
        yield storage_pb2.ReadSignedObjectResponse(content_type="text/plain", chunk=b"a")
        raise PermissionDenied("URL expired")


@pytest.fixture
async def runtime() -> AsyncIterator[ServiceRuntime]:
    settings = _Settings(port=0, shutdown_grace_s=0.5, log_format="json")
    rt = ServiceRuntime("bootstrap-test", settings)
    started = asyncio.Event()

    async def mark_started() -> None:
        started.set()

    rt.on_startup(mark_started)
    storage_pb2_grpc.add_StorageServiceServicer_to_server(_ProbeStorage(), rt.server)
    task = asyncio.create_task(rt.run([service_name(storage_pb2, "StorageService")]))
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.sleep(0.05)
    yield rt
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_health_and_reflection(runtime: ServiceRuntime) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.bound_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "imgen.storage.v1.StorageService"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=2)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        await runtime.set_serving(False)
        reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING

        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        names: set[str] = set()
        async for answer in stub.ServerReflectionInfo(iter([request]), timeout=2):
            names = {s.name for s in answer.list_services_response.service}
        assert "imgen.storage.v1.StorageService" in names
        assert "grpc.health.v1.Health" in names


async def test_domain_errors_become_status_codes(runtime: ServiceRuntime) -> None:
    settings = _Settings(call_timeout_s=1.0)
    async with open_channel(f"127.0.0.1:{runtime.bound_port}", settings) as channel:
        stub = storage_pb2_grpc.StorageServiceStub(channel)
        ok = await stub.PutObject(storage_pb2.PutObjectRequest(key="fine", data=b"abc"))
        assert ok.size == 3

        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await stub.PutObject(storage_pb2.PutObjectRequest(key="invalid"))
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert invalid.value.details() == "key is not a safe path"

        with pytest.raises(grpc.aio.AioRpcError) as crash:
            await stub.PutObject(storage_pb2.PutObjectRequest(key="crash"))
        assert crash.value.code() == grpc.StatusCode.INTERNAL
        assert "secret" not in (crash.value.details() or "")

        stream = stub.ReadSignedObject(storage_pb2.ReadSignedObjectRequest(key="x"))
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            async for _ in stream:
                pass
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_default_deadline_applies(runtime: ServiceRuntime) -> None:
    """A call without an explicit timeout still ends at the channel's default deadline."""
    settings = _Settings(call_timeout_s=0.3)
    async with open_channel(f"127.0.0.1:{runtime.bound_port}", settings) as channel:
        stub = storage_pb2_grpc.StorageServiceStub(channel)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(grpc.aio.AioRpcError) as slow:
            await stub.PutObject(storage_pb2.PutObjectRequest(key="slow"))
        assert slow.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert loop.time() - started < 2
