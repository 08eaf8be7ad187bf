"""Object key rules shared by every backend.

A key becomes a file path in the local backend and an object name in S3, so one
strict rule keeps both safe: a relative path of short segments made of
``[A-Za-z0-9._-]``, none of which starts with a dot. Refusing leading dots rules out
``.`` and ``..`` (no traversal whatever the key) and leaves dot-names free for the
local backend's own sidecar and temporary files, so they can never collide with an
object.
"""

from __future__ import annotations

import re

from services.shared.errors import InvalidArgument

#: Longest key accepted; S3 allows 1024 bytes and our keys are far shorter.
MAX_KEY_LENGTH = 1024
#: Longest segment; most filesystems refuse names over 255 bytes.
MAX_SEGMENT_LENGTH = 200

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_PARTIAL_SEGMENT = re.compile(r"([A-Za-z0-9_-][A-Za-z0-9._-]*)?")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative object path, else raise InvalidArgument."""
    _check_length(key, "key")
    segments = key.split("/")
    for segment in segments:
        _check_segment(segment, _SEGMENT, "key")
    return key


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a safe key prefix, else raise InvalidArgument.

    A prefix matches keys the way S3 prefixes do (plain string prefix), so its last
    segment may be partial or empty (``images/2026/``); the earlier ones follow the key
    rule. An empty prefix is refused: it would match every object.
    """
    _check_length(prefix, "prefix")
    *complete, last = prefix.split("/")
    for segment in complete:
        _check_segment(segment, _SEGMENT, "prefix")
    _check_segment(last, _PARTIAL_SEGMENT, "prefix")
    return prefix


def _check_length(value: str, what: str) -> None:
    if not value:
        raise InvalidArgument(f"object {what} is empty")
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidArgument(f"object {what} is longer than {MAX_KEY_LENGTH} characters")


def _check_segment(segment: str, pattern: re.Pattern[str], what: str) -> None:
    if len(segment) > MAX_SEGMENT_LENGTH:
        raise InvalidArgument(f"object {what} has a path segment longer than {MAX_SEGMENT_LENGTH} characters")
    if not pattern.fullmatch(segment):
        raise InvalidArgument(
            f"invalid object {what}: use a relative path of segments made of letters, digits, '.', '_' "
            "and '-', not starting with '.'"
        )
