"""API errors and the one mapping from gRPC status codes to HTTP answers.

Every failure a client can see is an :class:`ApiError` carrying the HTTP status and the
message of the spec's error table; the app renders it as ``{"error": message}``. Keeping
the gRPC mapping in one function means each action only says what its generic upstream
failure is called ("Generation failed", "Enhancement failed") and nothing else.
"""

from __future__ import annotations

import re

import grpc

from services.shared.errors import DEPENDENCY_KEY, DEPENDENCY_KIND, RETRY_AFTER_KEY, UNAVAILABLE_KIND_KEY


class ApiError(Exception):
    """A failure shown to the client as ``{"error": message}`` with ``status`` and extra ``headers``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    """400 with ``message``: the request itself is wrong."""
    return ApiError(400, message)


#: Messages of the spec's error table.
MISSING_ACTION = "Missing action"
UNKNOWN_ACTION = "Unknown action"
PROMPT_REQUIRED = "Prompt is required"
INVALID_CHARACTER = "Invalid character"
BAD_ID = "Bad ID"
UNAUTHORIZED = "Unauthorized"
GENERATION_FAILED = "Generation failed"
ENHANCEMENT_FAILED = "Enhancement failed"
INVALID_JSON = "Invalid JSON"
#: 503 while an upstream service is up but a store behind it is not; ``{}`` names the store.
DEPENDENCY_UNAVAILABLE = "Service temporarily unavailable: {} unreachable"

#: Dependency names an upstream may report that are shown as they are; others read "a dependency".
_SHOWABLE_DEPENDENCY = re.compile(r"[a-z][a-z ]{0,31}")
#: Bounds of the Retry-After sent on a dependency outage, seconds.
_RETRY_AFTER_S = (1, 60)
_DEFAULT_RETRY_AFTER_S = 2


def from_rpc_error(
    exc: grpc.RpcError,
    *,
    failure: str,
    not_found: ApiError | None = None,
    invalid: ApiError | None = None,
) -> ApiError:
    """The HTTP answer for a failed upstream call (docs/conventions.md, "Errors").

    ``failure`` is the 502 message for transport errors and anything unexpected (an
    UNAVAILABLE that says a store behind the upstream is down is a 503 instead);
    ``not_found`` overrides NOT_FOUND (``Bad ID`` on ``status``/``cancel``, 404 on files) and
    ``invalid`` overrides INVALID_ARGUMENT (a job id the inference service finds malformed).
    Upstream messages are shown only for codes whose message is meant for clients
    (domain errors); INTERNAL and transport details never leak.
    """
    code = exc.code() if hasattr(exc, "code") else None
    details = (exc.details() if hasattr(exc, "details") else None) or ""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return invalid or ApiError(400, details or "Invalid request")
    if code == grpc.StatusCode.NOT_FOUND:
        return not_found or ApiError(404, details or "Not found")
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return ApiError(403, details or "Forbidden")
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return ApiError(409, details or "Conflict")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return ApiError(429, details or "Too many requests")
    if code == grpc.StatusCode.UNAVAILABLE and (outage := dependency_outage(exc)) is not None:
        return outage
    return ApiError(502, failure)


def dependency_outage(exc: grpc.RpcError) -> ApiError | None:
    """503 with ``Retry-After`` when the upstream said a store it needs is down, else None.

    Only the upstream's trailing metadata (see ``services.shared.errors.DependencyUnavailable``)
    tells this apart from the upstream itself being unreachable, which stays a 502.
    """
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    facts = {str(key): str(value) for key, value in (trailing or ())}
    if facts.get(UNAVAILABLE_KIND_KEY) != DEPENDENCY_KIND:
        return None
    dependency = facts.get(DEPENDENCY_KEY, "")
    if not _SHOWABLE_DEPENDENCY.fullmatch(dependency):
        dependency = "a dependency"
    try:
        retry_after_s = int(facts.get(RETRY_AFTER_KEY, ""))
    except ValueError:
        retry_after_s = _DEFAULT_RETRY_AFTER_S
    low, high = _RETRY_AFTER_S
    retry_after_s = min(max(retry_after_s, low), high)
    return ApiError(
        503, DEPENDENCY_UNAVAILABLE.format(dependency), headers={"Retry-After": str(retry_after_s)}
    )
