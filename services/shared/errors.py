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

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        """Machine-readable facts sent beside the status, for callers that act on more than the code."""
        return ()


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


#: Trailing metadata keys of :class:`DependencyUnavailable` (read by the gateway's error mapping).
UNAVAILABLE_KIND_KEY = "imgen-unavailable"
DEPENDENCY_KIND = "dependency"
DEPENDENCY_KEY = "imgen-dependency"
RETRY_AFTER_KEY = "retry-after-s"


class DependencyUnavailable(Unavailable):
    """The service is up but a store it needs is not (its database restarting, say).

    Plain UNAVAILABLE also means "the service itself cannot be reached", which callers
    treat as an upstream failure; the trailing metadata tells them apart, so a caller can
    answer "temporarily unavailable, retry after N seconds" instead.
    """

    def __init__(self, dependency: str, *, retry_after_s: int = 2) -> None:
        super().__init__(f"{dependency} unavailable")
        self.dependency = dependency
        self.retry_after_s = retry_after_s

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return (
            (UNAVAILABLE_KIND_KEY, DEPENDENCY_KIND),
            (DEPENDENCY_KEY, self.dependency),
            (RETRY_AFTER_KEY, str(self.retry_after_s)),
        )


class ResourceExhausted(DomainError):
    """A limit was reached (size, rate, capacity)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
