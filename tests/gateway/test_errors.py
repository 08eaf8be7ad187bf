"""The one gRPC → HTTP mapping (docs/conventions.md, "Errors")."""

from __future__ import annotations

import socket

import grpc
import pytest
from grpc.aio import AioRpcError, Metadata

from gateway.errors import ApiError, from_rpc_error
from imgen.storage.v1 import storage_pb2, storage_pb2_grpc
from services.shared.errors import DependencyUnavailable
from services.shared.interceptors import ServerInterceptor


def rpc_error(code: grpc.StatusCode, details: str) -> AioRpcError:
    return AioRpcError(code, Metadata(), Metadata(), details=details)


@pytest.mark.parametrize(
    ("code", "details", "status", "message"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, "Invalid character", 400, "Invalid character"),
        (grpc.StatusCode.NOT_FOUND, "no such object", 404, "no such object"),
        (grpc.StatusCode.PERMISSION_DENIED, "URL expired", 403, "URL expired"),
        (grpc.StatusCode.FAILED_PRECONDITION, "Job already finished", 409, "Job already finished"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full", 429, "queue full"),
        (grpc.StatusCode.UNAVAILABLE, "connect failed 127.0.0.1", 502, "Generation failed"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "deadline", 502, "Generation failed"),
        (grpc.StatusCode.INTERNAL, "internal error", 502, "Generation failed"),
        (grpc.StatusCode.UNKNOWN, "Traceback (most recent call last)", 502, "Generation failed"),
    ],
)
def test_mapping(code: grpc.StatusCode, details: str, status: int, message: str) -> None:
    error = from_rpc_error(rpc_error(code, details), failure="Generation failed")
    assert (error.status, error.message) == (status, message)


def test_overrides_for_job_ids() -> None:
    bad_id = ApiError(400, "Bad ID")
    for code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
        error = from_rpc_error(rpc_error(code, "no job"), failure="x", not_found=bad_id, invalid=bad_id)
        assert (error.status, error.message) == (400, "Bad ID")


def test_transport_details_never_leak_into_the_failure() -> None:
    error = from_rpc_error(
        rpc_error(grpc.StatusCode.UNAVAILABLE, "secret-host:1234"), failure="Enhancement failed"
    )
    assert error.message == "Enhancement failed"


def outage_error(
    *trailing: tuple[str, str], code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
) -> AioRpcError:
    return AioRpcError(code, Metadata(), Metadata(*trailing), details="job store unavailable")


DEPENDENCY = ("imgen-unavailable", "dependency")


def test_dependency_outage_is_503_with_retry_after() -> None:
    error = from_rpc_error(
        outage_error(DEPENDENCY, ("imgen-dependency", "job store"), ("retry-after-s", "3")),
        failure="Generation failed",
    )
    assert (error.status, error.message) == (503, "Service temporarily unavailable: job store unreachable")
    assert error.headers == {"Retry-After": "3"}


def test_service_itself_unreachable_stays_502() -> None:
    error = from_rpc_error(outage_error(), failure="Generation failed")
    assert (error.status, error.message, error.headers) == (502, "Generation failed", {})
    other_kind = from_rpc_error(outage_error(("imgen-unavailable", "other")), failure="Generation failed")
    assert other_kind.status == 502


def test_dependency_metadata_on_another_code_is_ignored() -> None:
    error = from_rpc_error(
        outage_error(DEPENDENCY, code=grpc.StatusCode.INTERNAL), failure="Generation failed"
    )
    assert (error.status, error.message) == (502, "Generation failed")


@pytest.mark.parametrize(
    ("trailing", "retry_after"),
    [
        ((DEPENDENCY,), "2"),
        ((DEPENDENCY, ("imgen-dependency", "db at 10.0.0.5:5432")), "2"),
        ((DEPENDENCY, ("retry-after-s", "soon")), "2"),
        ((DEPENDENCY, ("retry-after-s", "0")), "1"),
        ((DEPENDENCY, ("retry-after-s", "86400")), "60"),
    ],
)
def test_dependency_outage_never_shows_raw_upstream_text(
    trailing: tuple[tuple[str, str], ...], retry_after: str
) -> None:
    """A missing or odd dependency name or retry hint falls back; hosts and ports never reach the client."""
    error = from_rpc_error(outage_error(*trailing), failure="Generation failed")
    assert (error.status, error.message) == (503, "Service temporarily unavailable: a dependency unreachable")
    assert error.headers == {"Retry-After": retry_after}


async def test_dependency_outage_through_a_real_server() -> None:
    """The metadata the shared interceptor sends is the metadata this mapping reads."""

    class Down(storage_pb2_grpc.StorageServiceServicer):
        async def PutObject(self, request: object, context: object) -> storage_pb2.PutObjectResponse:
            raise DependencyUnavailable("job store", retry_after_s=4)

    server = grpc.aio.server(interceptors=[ServerInterceptor("errors-test")])
    storage_pb2_grpc.add_StorageServiceServicer_to_server(Down(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = storage_pb2_grpc.StorageServiceStub(channel)
            with pytest.raises(AioRpcError) as outage:
                await stub.PutObject(storage_pb2.PutObjectRequest(key="k"), timeout=5)
    finally:
        await server.stop(0)
    error = from_rpc_error(outage.value, failure="Generation failed")
    assert (error.status, error.message) == (503, "Service temporarily unavailable: job store unreachable")
    assert error.headers == {"Retry-After": "4"}


async def test_unreachable_service_through_a_real_channel_stays_502() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{closed}") as channel:
        stub = storage_pb2_grpc.StorageServiceStub(channel)
        with pytest.raises(AioRpcError) as down:
            await stub.PutObject(storage_pb2.PutObjectRequest(key="k"), timeout=5)
    assert down.value.code() is grpc.StatusCode.UNAVAILABLE
    error = from_rpc_error(down.value, failure="Generation failed")
    assert (error.status, error.message) == (502, "Generation failed")


def test_error_response_carries_the_errors_headers() -> None:
    from gateway.app import error_response

    response = error_response(503, "Service temporarily unavailable", {"Retry-After": "2"})
    assert response.status_code == 503 and response.headers["retry-after"] == "2"
    assert error_response(401, "Unauthorized").headers["www-authenticate"] == "Bearer"
