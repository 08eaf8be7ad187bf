"""API errors and the one mapping from gRPC status codes to HTTP answers.

Every failure a client can see is an :class:`ApiError` carrying the HTTP status and the
message of the spec's error table; the app renders it as ``{"error": message}``. Keeping
the gRPC mapping in one function means each action only says what its generic upstream
failure is called ("Generation failed", "Enhancement failed") and nothing else.
"""

from __future__ import annotations

import grpc


class ApiError(Exception):
    """A failure shown to the client as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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


def from_rpc_error(
    exc: grpc.RpcError,
    *,
    failure: str,
    not_found: ApiError | None = None,
    invalid: ApiError | None = None,
) -> ApiError:
    """The HTTP answer for a failed upstream call (docs/conventions.md, "Errors").

    ``failure`` is the 502 message for transport errors and anything unexpected;
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
    return ApiError(502, failure)
