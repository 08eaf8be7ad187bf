"""Webhook signatures: HMAC-SHA256 over ``"{timestamp}.{body}"``.

Signing the timestamp together with the body lets a receiver refuse replays of an old,
validly signed payload (check that ``X-Imgen-Timestamp`` is recent). :func:`verify` is what
a receiver runs; the tests use it exactly as a client would.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

SIGNATURE_HEADER = "X-Imgen-Signature"
TIMESTAMP_HEADER = "X-Imgen-Timestamp"
DELIVERY_HEADER = "X-Imgen-Delivery"
EVENT_HEADER = "X-Imgen-Event"
SCHEME = "v1="


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Imgen-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret, f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def verify(
    secret: bytes,
    signature: str,
    timestamp: str,
    body: bytes,
    tolerance_s: int = 300,
    now: float | None = None,
) -> bool:
    """Whether a received payload is authentic and fresh (receiver side)."""
    if not timestamp.isdigit():
        return False
    sent = int(timestamp)
    if abs((now if now is not None else time.time()) - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


def load_or_create_secret(path: Path) -> bytes:
    """The signing secret kept in ``path`` (mode 0600), created on first use.

    Used when no ``webhook_secret`` is configured, so signatures survive restarts.
    """
    if path.exists():
        return path.read_text().strip().encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    value = "whsec_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value.encode("utf-8")
