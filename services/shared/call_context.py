"""What follows a request from hop to hop: its request id and its trace.

The gateway binds ``request_id`` for its logs (structlog context variables); the
client interceptors here copy it, with the W3C ``traceparent`` of the current span,
into the metadata of every outgoing gRPC call, and :func:`incoming` reads them back on
the server side so the service's log lines of that call carry the same id and its
spans join the same trace.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import structlog
from grpc.aio import ClientCallDetails
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.shared import tracing

REQUEST_ID = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_CARRIED = frozenset({REQUEST_ID, tracing.TRACEPARENT, tracing.TRACESTATE})


def current_request_id() -> str:
    """The request id bound for logging in this task, or empty."""
    value = structlog.contextvars.get_contextvars().get("request_id", "")
    return value if isinstance(value, str) else ""


def incoming(metadata: Sequence[tuple[str, Any]] | None) -> dict[str, str]:
    """The request id and trace headers of a call's invocation metadata.

    A request id that is not a plain token is dropped so a caller cannot write
    arbitrary text into the service's logs.
    """
    found: dict[str, str] = {}
    for key, value in metadata or ():
        if key in _CARRIED and isinstance(value, str):
            found[key] = value
    if REQUEST_ID in found and not _SAFE_REQUEST_ID.fullmatch(found[REQUEST_ID]):
        del found[REQUEST_ID]
    return found


def _with_metadata(details: ClientCallDetails, extra: Mapping[str, str]) -> ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    for key, value in extra.items():
        metadata[key] = value
    return ClientCallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=metadata,
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


def _method_name(details: ClientCallDetails) -> str:
    method = details.method
    return method.decode() if isinstance(method, bytes) else str(method)


def _outgoing(current: trace.Span | None) -> dict[str, str]:
    carrier: dict[str, str] = {}
    if current is not None:
        tracing.inject(carrier, current)
    request_id = current_request_id()
    if request_id and _SAFE_REQUEST_ID.fullmatch(request_id):
        carrier[REQUEST_ID] = request_id
    return carrier


async def _finish(current: trace.Span, call: Any) -> None:
    code = await call.code()
    current.set_attribute("rpc.grpc.status_code", code.value[0])
    if code != grpc.StatusCode.OK:
        current.set_status(Status(StatusCode.ERROR, f"{code.name}: {await call.details()}"))
    current.end()


def _client_span(details: ClientCallDetails) -> trace.Span | None:
    if not tracing.tracing_enabled():
        return None
    method = _method_name(details)
    return tracing.tracer().start_span(
        method.lstrip("/"),
        kind=SpanKind.CLIENT,
        attributes={"rpc.system": "grpc", "rpc.method": method},
    )


class ContextUnaryInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Carries request id and trace into unary calls, each traced as a CLIENT span."""

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        current = _client_span(client_call_details)
        carrier = _outgoing(current)
        details = _with_metadata(client_call_details, carrier) if carrier else client_call_details
        if current is None:
            return await continuation(details, request)
        try:
            call = await continuation(details, request)
        except BaseException:
            current.end()
            raise
        await _finish(current, call)
        return call


class ContextStreamInterceptor(grpc.aio.UnaryStreamClientInterceptor):
    """Same as :class:`ContextUnaryInterceptor` for server-streaming calls."""

    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        current = _client_span(client_call_details)
        carrier = _outgoing(current)
        details = _with_metadata(client_call_details, carrier) if carrier else client_call_details
        try:
            call = await continuation(details, request)
        except BaseException:
            if current is not None:
                current.end()
            raise
        if current is not None:
            call.add_done_callback(lambda done: asyncio.ensure_future(_finish(current, done)))
        return call
