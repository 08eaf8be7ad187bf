"""The storage service running in-process on a free port, for tests and the benchmark."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from imgen.storage.v1 import storage_pb2, storage_pb2_grpc
from services.shared.server import ServiceRuntime, service_name
from services.storage.main import Settings, build_runtime

SERVICE = service_name(storage_pb2, "StorageService")


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[storage_pb2_grpc.StorageServiceStub]:
    """The storage service serving on a free port, and a stub connected to it."""
    runtime, _ = build_runtime(settings)
    task = asyncio.create_task(runtime.run([SERVICE]))
    channel: grpc.aio.Channel | None = None
    try:
        channel = await _wait_serving(runtime, task)
        yield storage_pb2_grpc.StorageServiceStub(channel)
    finally:
        if channel is not None:
            await channel.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _wait_serving(runtime: ServiceRuntime, task: asyncio.Task[None]) -> grpc.aio.Channel:
    for _ in range(200):
        if task.done():
            task.result()
        if runtime.bound_port:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{runtime.bound_port}")
            health = health_pb2_grpc.HealthStub(channel)
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return channel
            await channel.close()
        await asyncio.sleep(0.02)
    raise TimeoutError("storage service did not become SERVING")
