"""Building blocks for the inference service tests: specs and an in-process server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from imgen.inference.v1 import inference_pb2, inference_pb2_grpc
from imgen.prompt.v1 import prompt_pb2
from services.inference.main import InferenceApp, Settings, build_runtime
from services.shared.server import service_name


def job_spec(**overrides: Any) -> inference_pb2.JobSpec:
    """A small, fast spec for the tiny model (256x256, 2 steps) unless overridden."""
    preset = prompt_pb2.GenerationPreset(model_source="builtin:tiny-sdxl", steps=2, guidance_scale=5.0)
    prompt = prompt_pb2.BuildPromptResponse(
        raw_prompt="a red fox",
        model="tiny",
        style="default",
        positive="a red fox, masterpiece",
        negative="blurry",
        preset=preset,
        notes=["built for tests"],
    )
    values: dict[str, Any] = {
        "raw_prompt": "a red fox",
        "prompt": prompt,
        "width": 256,
        "height": 256,
        "seed": 7,
        "format": "jpeg",
        "quality": 90,
        "enable_invisimark": True,
        "enable_c2pa": True,
        "compute_pdq": True,
    }
    values.update(overrides)
    return inference_pb2.JobSpec(**values)


async def wait_serving(address: str, timeout: float = 120.0) -> None:
    """Poll grpc.health.v1 until the server says SERVING."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            if loop.time() > deadline:
                raise TimeoutError(f"{address} never became SERVING")
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running_inference(settings: Settings) -> AsyncIterator[tuple[InferenceApp, Any]]:
    """The inference service as a real gRPC server on a free port, and a client stub."""
    app = build_runtime(settings)
    task = asyncio.create_task(app.runtime.run([service_name(inference_pb2, "InferenceService")]))
    try:
        while not app.runtime.bound_port:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        address = f"127.0.0.1:{app.runtime.bound_port}"
        await wait_serving(address)
        async with grpc.aio.insecure_channel(address) as channel:
            yield app, inference_pb2_grpc.InferenceServiceStub(channel)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_for_state(
    stub: Any, job_id: str, states: set[int], timeout: float = 60.0
) -> inference_pb2.Job:
    """Poll GetJob until the job reaches one of ``states``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        job = (await stub.GetJob(inference_pb2.GetJobRequest(id=job_id), timeout=5)).job
        if job.state in states:
            return job
        if loop.time() > deadline:
            raise TimeoutError(f"job {job_id} stuck in {inference_pb2.JobState.Name(job.state)}")
        await asyncio.sleep(0.05)
