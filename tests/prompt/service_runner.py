"""The prompt service running in-process on a free port, for tests and the benchmark."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from imgen.prompt.v1 import prompt_pb2_grpc
from services.prompt.main import SERVICE_NAMES, Settings, build_runtime
from services.shared.server import ServiceRuntime


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
) -> AsyncIterator[tuple[prompt_pb2_grpc.PromptServiceStub, grpc.aio.Channel]]:
    """The prompt service serving on a free port, a stub connected to it, and its channel."""
    runtime = build_runtime(settings)
    task = asyncio.create_task(runtime.run(SERVICE_NAMES))
    channel: grpc.aio.Channel | None = None
    try:
        channel = await _wait_serving(runtime, task)
        yield prompt_pb2_grpc.PromptServiceStub(channel), channel
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
    for _ in range(500):
        if task.done():
            task.result()
        if runtime.bound_port:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{runtime.bound_port}")
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=1
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return channel
            await channel.close()
        await asyncio.sleep(0.02)
    raise TimeoutError("prompt service did not become SERVING")
