"""``verify`` (beyond the spec): ask whether we made an image, and which generation it is.

The body is ``{"action": "verify", "image": "<base64 or data:image/...;base64,...>"}``;
the answer combines the three signals of ProvenanceService.Verify: the C2PA state and a
manifest summary, the invisible watermark (and the generation its payload belongs to),
and the PDQ fingerprint with the nearest indexed match. Job ids stay internal: they
would let anyone who holds a copy poll another customer's job; the gen_id is already
public in every delivered file name.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any

import grpc

from gateway.errors import ApiError, from_rpc_error
from imgen.provenance.v1 import provenance_pb2, provenance_pb2_grpc
from services.shared.channels import open_channel
from services.shared.logging import get_logger
from services.shared.settings import ServiceSettings

if TYPE_CHECKING:
    from gateway.handlers import ActionContext, Body
    from gateway.upstream import Upstreams

log = get_logger(__name__)

#: Largest decoded image ``verify`` accepts, bytes (the body limit applies first).
MAX_IMAGE_BYTES = 8 * 1024 * 1024
VERIFY_FAILED = "Verification failed"
PROVENANCE_CHANNEL = "provenance"
_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)(;[^,;]*)*;base64,", re.I)


def attach_provenance(upstreams: Upstreams, settings: ServiceSettings, timeout_s: float) -> None:
    """Open the provenance channel next to the other upstreams (closed with them)."""
    upstreams.channels[PROVENANCE_CHANNEL] = open_channel(settings.provenance_addr, settings, timeout_s)


def decode_image_field(body: Body, max_bytes: int = MAX_IMAGE_BYTES) -> tuple[bytes, str]:
    """(file bytes, declared MIME type or "") from ``image``; 400 when unusable, 413 when too big."""
    value = body.get("image")
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "image is required (base64 or a data URI)")
    text = value.strip()
    mime = ""
    match = _DATA_URI.match(text)
    if match:
        mime = match.group("mime").lower()
        text = text[match.end() :]
    elif text.startswith("data:"):
        raise ApiError(400, "image must be a base64 data URI (data:image/png;base64,...)")
    text = re.sub(r"\s+", "", text)
    if len(text) > (max_bytes + 2) // 3 * 4:
        raise ApiError(413, f"Image too large (max {max_bytes} bytes)")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "image is not valid base64") from None
    if not data:
        raise ApiError(400, "image is required (base64 or a data URI)")
    if len(data) > max_bytes:
        raise ApiError(413, f"Image too large (max {max_bytes} bytes)")
    return data, mime


async def verify(ctx: ActionContext, body: Body) -> dict[str, Any]:
    """``verify``: what an image proves about its origin."""
    data, mime = decode_image_field(body)
    channel = ctx.upstreams.channels.get(PROVENANCE_CHANNEL)
    if channel is None:
        raise ApiError(502, VERIFY_FAILED)
    stub = provenance_pb2_grpc.ProvenanceServiceStub(channel)
    try:
        reply = await stub.Verify(provenance_pb2.VerifyRequest(data=data, mime_type=mime))
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        log.warning("upstream call failed", call="Verify", code=getattr(code, "name", str(code)))
        raise from_rpc_error(exc, failure=VERIFY_FAILED) from None
    return verify_view(reply)


def verify_view(reply: provenance_pb2.VerifyResponse) -> dict[str, Any]:
    """The JSON answer of ``verify``."""
    summary = None
    if reply.HasField("c2pa_summary"):
        s = reply.c2pa_summary
        summary = {
            "title": s.title,
            "authors": list(s.authors),
            "organization": s.organization,
            "generator": s.generator,
            "digital_source_type": s.digital_source_type,
            "signer": s.signer,
            "signed_at": s.signed_at,
            "gen_id": s.gen_id,
            "model": s.model,
            "style": s.style,
        }
    ours = reply.HasField("watermark_generation")
    match = None
    if reply.HasField("nearest_match"):
        match = {
            "gen_id": reply.nearest_match.gen_id,
            "distance": reply.nearest_match_distance,
            "created_at": reply.nearest_match.created_at_unix,
        }
    return {
        "c2pa": {
            "state": reply.c2pa_state,
            "status_codes": list(reply.c2pa_status_codes),
            "summary": summary,
        },
        "watermark": {
            "found": reply.watermark_found,
            "payload": reply.watermark_payload,
            "gen_id": reply.watermark_generation.gen_id if ours else None,
            "bit_errors": reply.watermark_bit_errors if ours else None,
            "confidence": round(float(reply.watermark_confidence), 4),
        },
        "fingerprint": {"pdq": reply.fingerprint, "quality": reply.fingerprint_quality},
        "match": match,
    }
