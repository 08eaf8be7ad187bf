"""One trace across HTTP, two gRPC services and a queued job stage; request ids into service logs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import httpx
import pytest
import structlog
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from imgen.storage.v1 import storage_pb2, storage_pb2_grpc
from services.shared import tracing
from services.shared.call_context import current_request_id
from services.shared.channels import open_channel
from services.shared.server import ServiceRuntime, service_name
from services.shared.settings import ServiceSettings
from services.shared.stages import job_stage


class _Settings(ServiceSettings):
    section: ClassVar[str] = "tracing_test"


class _Storage(storage_pb2_grpc.StorageServiceServicer):
    """The last hop: remembers the request id it saw in its own task's log context."""

    def __init__(self) -> None:
        self.request_ids: list[str] = []

    async def PutObject(self, request: storage_pb2.PutObjectRequest, context: Any) -> Any:
        self.request_ids.append(current_request_id())
        structlog.get_logger("storage-test").info("stored", key=request.key)
        return storage_pb2.PutObjectResponse(key=request.key, size=len(request.data))


class _Relay(storage_pb2_grpc.StorageServiceServicer):
    """A middle hop (the worker's role): forwards the call to the next service."""

    def __init__(self, downstream: storage_pb2_grpc.StorageServiceStub) -> None:
        self.downstream = downstream

    async def PutObject(self, request: storage_pb2.PutObjectRequest, context: Any) -> Any:
        return await self.downstream.PutObject(request)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.configure_tracing("test", "", exporter=exporter)
    yield exporter
    tracing.shutdown_tracing()


async def _start(name: str, servicer: Any) -> tuple[ServiceRuntime, asyncio.Task[None]]:
    runtime = ServiceRuntime(name, _Settings(port=0, shutdown_grace_s=0.2, log_format="json"))
    storage_pb2_grpc.add_StorageServiceServicer_to_server(servicer, runtime.server)
    started = asyncio.Event()

    async def mark() -> None:
        started.set()

    runtime.on_startup(mark)
    task = asyncio.create_task(runtime.run([service_name(storage_pb2, "StorageService")]))
    await asyncio.wait_for(started.wait(), 10)
    return runtime, task


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def chain() -> AsyncIterator[tuple[str, _Storage]]:
    """relay (role "inference") -> storage (role "storage"), real gRPC on free ports."""
    storage = _Storage()
    storage_rt, storage_task = await _start("storage", storage)
    settings = _Settings()
    downstream = open_channel(f"127.0.0.1:{storage_rt.bound_port}", settings, timeout=5)
    relay_rt, relay_task = await _start("inference", _Relay(storage_pb2_grpc.StorageServiceStub(downstream)))
    yield f"127.0.0.1:{relay_rt.bound_port}", storage
    await downstream.close()
    await _stop(relay_task)
    await _stop(storage_task)


def _by_name(finished: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    matches = [s for s in finished if s.name == name]
    assert matches, f"no span {name!r} in {[s.name for s in finished]}"
    return matches[0]


async def test_one_trace_from_http_through_two_services(
    spans: InMemorySpanExporter, chain: tuple[str, _Storage]
) -> None:
    relay_address, storage = chain
    channel = open_channel(relay_address, _Settings(), timeout=5)
    stub = storage_pb2_grpc.StorageServiceStub(channel)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        with structlog.contextvars.bound_contextvars(request_id="req-trace-0001"):
            await stub.PutObject(storage_pb2.PutObjectRequest(key="k", data=b"xyz"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=tracing.TracingMiddleware(app)))
    async with client:
        response = await client.post("http://gateway/api/v2")
    await channel.close()
    assert response.status_code == 200
    tracing.flush_spans()
    finished = spans.get_finished_spans()

    http = _by_name(finished, "POST /api/v2")
    relay_server = _by_name(finished, "inference/PutObject")
    storage_server = _by_name(finished, "storage/PutObject")
    clients = [s for s in finished if s.kind == SpanKind.CLIENT]
    assert len(clients) == 2
    assert {s.context.trace_id for s in finished} == {http.context.trace_id}
    assert http.kind == SpanKind.SERVER and http.parent is None
    # http -> client call -> relay server -> client call -> storage server
    first_call = next(s for s in clients if s.parent and s.parent.span_id == http.context.span_id)
    assert relay_server.parent is not None and relay_server.parent.span_id == first_call.context.span_id
    second_call = next(s for s in clients if s.parent and s.parent.span_id == relay_server.context.span_id)
    assert storage_server.parent is not None and storage_server.parent.span_id == second_call.context.span_id
    assert relay_server.attributes["imgen.service"] == "inference"
    assert storage_server.attributes["imgen.service"] == "storage"
    # the request id travelled two hops in metadata
    assert storage.request_ids == ["req-trace-0001"]


async def test_a_stage_run_later_joins_the_submitting_trace(spans: InMemorySpanExporter) -> None:
    with tracing.span("POST /api/v2", kind=SpanKind.SERVER) as submitting:
        stored = tracing.current_traceparent()
    assert submitting is not None and stored.startswith("00-")

    async def worker() -> None:  # another task, no ambient context: only the stored string
        with job_stage("denoise", stored):
            await asyncio.sleep(0)

    await asyncio.create_task(worker())
    tracing.flush_spans()
    stage = _by_name(spans.get_finished_spans(), "job.denoise")
    assert stage.context.trace_id == submitting.get_span_context().trace_id
    assert stage.parent is not None and stage.parent.span_id == submitting.get_span_context().span_id


def test_tracing_is_off_without_an_endpoint() -> None:
    assert not tracing.configure_tracing("test", "")
    assert not tracing.tracing_enabled()
    with tracing.span("nothing") as current:
        assert current is None
    assert tracing.current_traceparent() == ""


async def test_service_logs_carry_the_callers_request_id(
    chain: tuple[str, _Storage], caplog: pytest.LogCaptureFixture
) -> None:
    relay_address, storage = chain
    channel = open_channel(relay_address, _Settings(), timeout=5)
    with caplog.at_level(logging.INFO), structlog.contextvars.bound_contextvars(request_id="req-log-0002"):
        await storage_pb2_grpc.StorageServiceStub(channel).PutObject(storage_pb2.PutObjectRequest(key="k"))
    await channel.close()
    assert storage.request_ids == ["req-log-0002"]
    lines = [r for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "stored"]
    assert lines and lines[0].msg["request_id"] == "req-log-0002"


async def test_an_unsafe_request_id_is_not_logged(chain: tuple[str, _Storage]) -> None:
    relay_address, storage = chain
    channel = open_channel(relay_address, _Settings(), timeout=5)
    bad = json.dumps({"injected": "line"})
    with structlog.contextvars.bound_contextvars(request_id=bad):
        await storage_pb2_grpc.StorageServiceStub(channel).PutObject(storage_pb2.PutObjectRequest(key="k"))
    await channel.close()
    assert storage.request_ids == [""]
