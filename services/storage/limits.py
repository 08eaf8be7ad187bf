"""What a request may ask for: URL lifetimes and the headers stored with an object.

Content type and Cache-Control end up as HTTP response headers (sent by the gateway
or by S3), so anything that could split or smuggle a header is refused here.
"""

from __future__ import annotations

import re

from services.shared.errors import InvalidArgument

#: Longest header value accepted for content type or Cache-Control.
MAX_HEADER_LENGTH = 256
#: Most keys one PresignUrls or DeleteObjects call may name.
MAX_KEYS_PER_CALL = 1000

_CONTENT_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;\s*[ -~]*)?")
_HEADER_VALUE = re.compile(r"[ -~]*")


def effective_ttl(requested: int, default: int, maximum: int) -> int:
    """Seconds a URL lives: the request's value (0 means the default), capped at ``maximum``."""
    ttl = requested or default
    return max(1, min(ttl, maximum))


def validate_content_type(value: str) -> str:
    """A MIME type safe to send as a header, else InvalidArgument."""
    if len(value) > MAX_HEADER_LENGTH or not _CONTENT_TYPE.fullmatch(value):
        raise InvalidArgument("content_type must be a MIME type such as image/jpeg")
    return value


def validate_cache_control(value: str) -> str:
    """A Cache-Control value safe to send as a header, else InvalidArgument."""
    if len(value) > MAX_HEADER_LENGTH or not _HEADER_VALUE.fullmatch(value):
        raise InvalidArgument(
            f"cache_control must be printable ASCII of at most {MAX_HEADER_LENGTH} characters"
        )
    return value


def validate_key_count(count: int) -> None:
    """Bound the work one call can ask for."""
    if count > MAX_KEYS_PER_CALL:
        raise InvalidArgument(f"at most {MAX_KEYS_PER_CALL} keys per call")
