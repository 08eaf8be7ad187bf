"""gRPC interceptors: domain errors to status codes, metrics, logs, traces, default deadlines."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import grpc
import structlog
from grpc.aio import ClientCallDetails
from opentelemetry.trace import Span, SpanKind

from services.shared import tracing
from services.shared.call_context import REQUEST_ID, incoming
from services.shared.errors import DomainError
from services.shared.logging import get_logger
from services.shared.metrics import GRPC_LATENCY, GRPC_REQUESTS

log = get_logger(__name__)


class ServerInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every unary and server-streaming handler.

    A :class:`DomainError` becomes its status code with its message and its trailing
    metadata (:class:`DependencyUnavailable` says so there); any other
    exception is logged with its stack and becomes INTERNAL with a generic message.
    Every call is counted and timed, logs under the caller's request id, and, while
    tracing is on, is a SERVER span joined to the caller's trace.
    """

    def __init__(self, service: str) -> None:
        self._service = service

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _wrap_unary(self, behaviour: Any, method: str) -> Any:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            with self._call_context(method, context) as current:
                try:
                    return await behaviour(request, context)
                except DomainError as exc:
                    code = exc.code
                    await context.abort(exc.code, exc.message, exc.trailing_metadata())
                except grpc.aio.AbortError:
                    code = context.code() or grpc.StatusCode.UNKNOWN
                    raise
                except Exception:
                    code = grpc.StatusCode.INTERNAL
                    log.exception("unhandled error", method=method)
                    await context.abort(grpc.StatusCode.INTERNAL, "internal error")
                finally:
                    self._record(method, code, started, current)

        return wrapper

    def _wrap_stream(self, behaviour: Any, method: str) -> Any:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            with self._call_context(method, context) as current:
                try:
                    async for item in behaviour(request, context):
                        yield item
                except DomainError as exc:
                    code = exc.code
                    await context.abort(exc.code, exc.message, exc.trailing_metadata())
                except grpc.aio.AbortError:
                    code = context.code() or grpc.StatusCode.UNKNOWN
                    raise
                except Exception:
                    code = grpc.StatusCode.INTERNAL
                    log.exception("unhandled error", method=method)
                    await context.abort(grpc.StatusCode.INTERNAL, "internal error")
                finally:
                    self._record(method, code, started, current)

        return wrapper

    @contextlib.contextmanager
    def _call_context(self, method: str, context: grpc.aio.ServicerContext) -> Iterator[Span | None]:
        """Bind the caller's request id for logs and open the call's span under its trace."""
        carried = incoming(context.invocation_metadata())
        request_id = carried.pop(REQUEST_ID, "")
        bound = structlog.contextvars.bound_contextvars(request_id=request_id) if request_id else None
        with (
            bound or contextlib.nullcontext(),
            tracing.span(
                f"{self._service}/{method}",
                kind=SpanKind.SERVER,
                parent=carried,
                attributes={"rpc.system": "grpc", "rpc.method": method, "imgen.service": self._service},
            ) as current,
        ):
            yield current

    def _record(self, method: str, code: Any, started: float, current: Span | None = None) -> None:
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        if current is not None:
            current.set_attribute("rpc.grpc.status_code", name)
            if name != "OK":
                tracing.set_error(current, name)
        GRPC_REQUESTS.labels(self._service, method, name).inc()
        GRPC_LATENCY.labels(self._service, method).observe(time.perf_counter() - started)


def _with_deadline(details: ClientCallDetails, timeout: float) -> ClientCallDetails:
    if details.timeout is not None:
        return details
    return ClientCallDetails(
        method=details.method,
        timeout=timeout,
        metadata=details.metadata,
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class DeadlineUnaryInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Gives every unary call without an explicit timeout the configured deadline."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(_with_deadline(client_call_details, self._timeout), request)


class DeadlineStreamInterceptor(grpc.aio.UnaryStreamClientInterceptor):
    """Same as :class:`DeadlineUnaryInterceptor` for server-streaming calls."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(_with_deadline(client_call_details, self._timeout), request)
