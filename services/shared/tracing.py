"""OpenTelemetry traces across the mesh: one trace per job, gateway to storage.

Tracing is off unless ``otlp_endpoint`` is set; then each process exports its spans
over OTLP/gRPC under its own ``service.name``. The W3C ``traceparent`` travels in gRPC
metadata (see :mod:`services.shared.call_context`) and, across the job queue, inside
the job itself, so the worker's spans join the trace of the ``generate`` request that
submitted the job even though they run later, in another process.

While tracing is off every helper here returns at once without creating spans, so the
hot paths (``status`` polling) pay nothing for it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.shared.logging import get_logger

log = get_logger(__name__)

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None


def configure_tracing(service: str, endpoint: str, exporter: SpanExporter | None = None) -> bool:
    """Export this process's spans to ``endpoint`` (or ``exporter``); False when tracing stays off.

    ``exporter`` lets a test collect spans in memory; otherwise an OTLP/gRPC exporter
    is built for ``endpoint``. Calling it again replaces the previous provider, after
    flushing it, so a test can switch exporters.
    """
    global _provider
    if exporter is None:
        if not endpoint:
            return False
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))
    provider = TracerProvider(resource=Resource.create({"service.name": f"imgen-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    previous, _provider = _provider, provider
    if previous is not None:
        previous.shutdown()
    log.info("tracing on", endpoint=endpoint or type(exporter).__name__)
    return True


def shutdown_tracing() -> None:
    """Flush and stop exporting (at process exit); tracing is off afterwards."""
    global _provider
    previous, _provider = _provider, None
    if previous is not None:
        previous.shutdown()


def tracing_enabled() -> bool:
    """Whether spans are recorded in this process."""
    return _provider is not None


def flush_spans(timeout_ms: int = 5000) -> None:
    """Export buffered spans now (tests; before a short-lived process exits)."""
    if _provider is not None:
        _provider.force_flush(timeout_ms)


def tracer() -> trace.Tracer:
    """The process's tracer (a no-op one while tracing is off)."""
    if _provider is None:
        return trace.NoOpTracer()
    return _provider.get_tracer("imgen")


def inject(carrier: dict[str, str], of: Span | None = None) -> dict[str, str]:
    """Add the ``traceparent`` (and ``tracestate``) of ``of``, or the current span, to ``carrier``."""
    if _provider is not None:
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(of) if of is not None else None)
    return carrier


def current_traceparent() -> str:
    """The current span as a W3C ``traceparent`` string; empty when none is recording."""
    return inject({}).get(TRACEPARENT, "")


def extract(carrier: Mapping[str, str]) -> otel_context.Context:
    """The remote parent named by ``carrier`` (empty context when it names none)."""
    return _PROPAGATOR.extract(dict(carrier))


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Mapping[str, str] | None = None,
    attributes: dict[str, Any] | None = None,
) -> Iterator[Span | None]:
    """A current span named ``name``, child of ``parent`` (a traceparent carrier) if given.

    Yields None while tracing is off. An exception marks the span as an error and
    propagates unchanged.
    """
    if _provider is None:
        yield None
        return
    context = extract(parent) if parent else None
    with tracer().start_as_current_span(
        name, context=context, kind=kind, attributes=attributes, record_exception=True
    ) as current:
        yield current


def set_error(current: Span | None, message: str) -> None:
    """Mark ``current`` as failed without an exception (e.g. a non-OK gRPC status)."""
    if current is not None:
        current.set_status(Status(StatusCode.ERROR, message))


class TracingMiddleware:
    """Pure ASGI middleware: one SERVER span per HTTP request, joining an incoming traceparent.

    The gateway's gRPC calls made while handling the request become its children, so a
    ``generate`` request's trace holds the prompt review, the submission and, through
    the job's stored traceparent, everything the worker does later.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or _provider is None:
            await self.app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])
            if name.lower() in (b"traceparent", b"tracestate")
        }
        method = scope.get("method", "GET")
        path = scope.get("path", "")
        status_holder: dict[str, int] = {}

        async def send_with_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = int(message["status"])
            await send(message)

        started = time.perf_counter()
        with span(
            f"{method} {path}",
            kind=SpanKind.SERVER,
            parent=headers,
            attributes={"http.request.method": method, "url.path": path},
        ) as current:
            await self.app(scope, receive, send_with_status)
            if current is not None:
                status = status_holder.get("status", 0)
                current.set_attribute("http.response.status_code", status)
                current.set_attribute("imgen.duration_ms", round((time.perf_counter() - started) * 1000, 3))
                if status >= 500:
                    set_error(current, f"HTTP {status}")
