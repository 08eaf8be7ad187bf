"""The admin credential: scrypt hashes, generated passwords, and where the gateway finds them.

The admin password guards every key, so it gets a slow, salted hash (scrypt from the
standard library) unlike API keys, which are random enough for SHA-256. There is no
default password: a gateway with no hash, no password and no ``<data_dir>/admin_password``
keeps the panel closed. ``python -m gateway.admin.password`` prints a hash for config.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from gateway.main import Settings

PASSWORD_FILE = "admin_password"
SESSION_SECRET_FILE = "admin_session_secret"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    encode = base64.urlsafe_b64encode
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + f"{encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded`` (a :func:`hash_password` string); constant time."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = encoded.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.urlsafe_b64decode(salt_b64)
        expected = base64.urlsafe_b64decode(digest_b64)
        actual = hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def generate_password() -> str:
    """A password an operator can type: 20 URL-safe characters (~120 bits)."""
    return secrets.token_urlsafe(15)


def write_private(path: Path, value: str) -> None:
    """Write ``value`` to ``path`` readable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    os.chmod(path, 0o600)


def read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The value kept in ``path``, created 0600 with ``make()`` when missing or empty."""
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = ""
    if not value:
        value = make()
        write_private(path, value)
    return value


def ensure_admin_password(data_dir: Path) -> str:
    """The data dir's admin password, generated on first use (what ``imgen up`` prints)."""
    return read_or_create(Path(data_dir) / PASSWORD_FILE, generate_password)


def password_checker(settings: Settings) -> Callable[[str], bool] | None:
    """How a sign-in attempt is checked under ``settings``; None when no credential is configured.

    The data-dir file is read at each attempt so ``imgen up`` (or an operator) can set it
    after the gateway started.
    """
    if settings.admin_password_hash:
        encoded = settings.admin_password_hash
        return lambda attempt: verify_password(attempt, encoded)
    clear = settings.admin_password.get_secret_value()
    if not clear:
        path = Path(settings.data_dir).expanduser() / PASSWORD_FILE
        try:
            clear = path.read_text().strip()
        except OSError:
            return None
        if not clear:
            return None
    expected = clear.encode("utf-8")
    return lambda attempt: hmac.compare_digest(attempt.encode("utf-8"), expected)


def session_secret(settings: Settings) -> bytes:
    """The cookie signing key: from config, else generated once in the data dir."""
    configured = settings.admin_session_secret.get_secret_value()
    if configured:
        return configured.encode("utf-8")
    path = Path(settings.data_dir).expanduser() / SESSION_SECRET_FILE
    return read_or_create(path, lambda: secrets.token_urlsafe(32)).encode("utf-8")


def main() -> int:
    """Read a password without echo and print its hash for ``admin_password_hash``."""
    password = getpass.getpass("admin password: ")
    if len(password) < 12:
        print("error: use at least 12 characters", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
