"""Run one gRPC service in this process on a free port, for tests and benchmarks.

Every service's tests need the same dance: start ``ServiceRuntime.run`` as a task, wait
until the OS gave it a port and health says SERVING, hand out a channel, and on exit
cancel the task and take back the signal handlers the runtime installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.shared.server import ServiceRuntime


@contextlib.asynccontextmanager
async def serving(
    runtime: ServiceRuntime, service_names: list[str], timeout_s: float = 10.0
) -> AsyncIterator[grpc.aio.Channel]:
    """``runtime`` serving ``service_names``, and a channel to it once health says SERVING."""
    task = asyncio.create_task(runtime.run(service_names))
    channel: grpc.aio.Channel | None = None
    try:
        channel = await _wait_serving(runtime, task, service_names[0] if service_names else "", timeout_s)
        yield channel
    finally:
        if channel is not None:
            await channel.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _wait_serving(
    runtime: ServiceRuntime, task: asyncio.Task[None], service: str, timeout_s: float
) -> grpc.aio.Channel:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if task.done():
            task.result()
        if runtime.bound_port:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{runtime.bound_port}")
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=1
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return channel
            await channel.close()
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{runtime.name} did not become SERVING within {timeout_s:.0f}s")
