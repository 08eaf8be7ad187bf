"""``X-Request-Id`` on every response, and in every log line of the request.

A well-formed id sent by a proxy is kept so one request can be followed across hops;
anything else is replaced, so a client cannot inject arbitrary text into logs.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import structlog

_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
HEADER = b"x-request-id"


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The incoming id if it is safe to reuse, else a fresh one."""
    for name, value in headers:
        if name.lower() == HEADER:
            candidate = value.decode("latin-1").strip()
            if _SAFE_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Pure ASGI middleware: binds the id for logging and adds it to the response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope.get("headers", []))
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                headers.append((HEADER, request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)
