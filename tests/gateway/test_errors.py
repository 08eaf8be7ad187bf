"""The one gRPC → HTTP mapping (docs/conventions.md, "Errors")."""

from __future__ import annotations

import grpc
import pytest
from grpc.aio import AioRpcError, Metadata

from gateway.errors import ApiError, from_rpc_error


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
