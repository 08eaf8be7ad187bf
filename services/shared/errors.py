"""Domain errors and their gRPC status codes.

Domain code raises these without knowing about gRPC; the server interceptor turns them
into status codes with the message intact, so the gateway can map them to the API's
HTTP errors. Anything else that escapes a handler is logged and becomes INTERNAL with a
generic message, so no stack trace or secret ever reaches a caller.
"""

from __future__ import annotations

import grpc


class DomainError(Exception):
    """An expected failure whose message is safe to show to the caller."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """The request is malformed or names something that does not exist in the catalog."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(DomainError):
    """The named resource does not exist."""

    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(DomainError):
    """The resource is in a state that does not allow the operation."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(DomainError):
    """The caller presented a credential that is invalid, expired or tampered with."""

    code = grpc.StatusCode.PERMISSION_DENIED


class Unavailable(DomainError):
    """A dependency (LLM endpoint, object store, database) could not be reached."""

    code = grpc.StatusCode.UNAVAILABLE


class ResourceExhausted(DomainError):
    """A limit was reached (size, rate, capacity)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
