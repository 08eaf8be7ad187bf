"""The local backend's URL-signing secret.

Generated once per data directory so an out-of-the-box install needs no setup, and
kept in a 0600 file so URLs stay valid across restarts. Several processes that share
the data directory may start at the same time: the file is published with a
no-clobber hard link, so exactly one random key wins and everyone reads that one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

#: Shortest secret accepted from configuration, in bytes.
MIN_KEY_BYTES = 16


def load_or_create_signing_key(path: Path) -> bytes:
    """Return the secret stored at ``path``, creating it first if it does not exist."""
    if not path.exists():
        _create(path)
    text = path.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise ValueError(f"URL signing key file {path} does not hold a hex key") from exc
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"URL signing key file {path} holds fewer than {MIN_KEY_BYTES} bytes")
    return key


def key_from_setting(secret: str) -> bytes:
    """The secret given in configuration, as bytes; too short a secret is refused."""
    key = secret.encode()
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"url_signing_key must be at least {MIN_KEY_BYTES} bytes")
    return key


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
