"""``GET /files/{key}``: the local storage backend's pre-signed URLs, served by streaming.

Storage alone holds the signing key, so the gateway only forwards the URL's parts to
``StorageService.ReadSignedObject`` and relays the chunks. The first message is awaited
before answering so a bad signature or missing object still gets its proper status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.errors import ApiError, from_rpc_error
from gateway.http_metrics import FILE_BYTES
from gateway.upstream import Upstreams
from imgen.storage.v1 import storage_pb2
from services.shared.logging import get_logger

log = get_logger(__name__)

INVALID_LINK = "Invalid or expired link"


async def serve_file(request: Request, upstreams: Upstreams, timeout_s: float) -> Response:
    """Stream the object named by the URL if its signature and expiry check out."""
    key = request.path_params["key"]
    signature = request.query_params.get("signature", "")
    try:
        expires = int(request.query_params.get("expires", ""))
    except ValueError:
        raise ApiError(403, INVALID_LINK) from None
    if not signature or not key:
        raise ApiError(403, INVALID_LINK)
    call = upstreams.storage.ReadSignedObject(
        storage_pb2.ReadSignedObjectRequest(key=key, expires=expires, signature=signature), timeout=timeout_s
    )
    try:
        first = await call.read()
    except grpc.RpcError as exc:
        call.cancel()
        raise from_rpc_error(
            exc, failure="Storage unavailable", not_found=ApiError(404, "Not found")
        ) from None
    if first is grpc.aio.EOF:
        raise ApiError(404, "Not found")

    async def chunks() -> AsyncIterator[bytes]:
        message = first
        try:
            while message is not grpc.aio.EOF:
                FILE_BYTES.inc(len(message.chunk))
                yield message.chunk
                message = await call.read()
        except grpc.RpcError as exc:
            # Headers are already sent: all we can do is end the body early and say why in the log.
            log.warning("object stream broke", code=exc.code().name if hasattr(exc, "code") else "?")
        finally:
            call.cancel()

    headers = {
        "Cache-Control": first.cache_control or "private, max-age=3600",
        "X-Content-Type-Options": "nosniff",
    }
    if first.size:
        headers["Content-Length"] = str(first.size)
    return StreamingResponse(
        chunks(), media_type=first.content_type or "application/octet-stream", headers=headers
    )
