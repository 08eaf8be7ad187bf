"""Admin sessions: server-side rows behind a signed cookie, each with its CSRF token.

The cookie holds a random session token and its HMAC under the session secret; the
database holds only the token's SHA-256, the CSRF token and the expiry. Logout deletes
the row, so a copied cookie dies with the session rather than living on until expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, insert, select
from sqlalchemy.engine import Engine

COOKIE_NAME = "imgen_admin"
LOGIN_COOKIE_NAME = "imgen_admin_login"

metadata = MetaData()

admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class AdminSession:
    """A signed-in operator's session."""

    token_hash: str
    csrf_token: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def tokens_match(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a submitted CSRF token."""
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


class SessionStore:
    """Creates, resolves and ends admin sessions in the gateway database."""

    def __init__(self, engine: Engine, secret: bytes, ttl_s: int) -> None:
        self.engine = engine
        self.secret = secret
        self.ttl_s = ttl_s
        metadata.create_all(engine)

    def _sign(self, token: str) -> str:
        return hmac.new(self.secret, token.encode("utf-8"), hashlib.sha256).hexdigest()

    def create(self) -> tuple[str, AdminSession]:
        """A new session: (the cookie value, the session)."""
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        session = AdminSession(_digest(token), secrets.token_urlsafe(32), now + timedelta(seconds=self.ttl_s))
        with self.engine.begin() as conn:
            conn.execute(delete(admin_sessions).where(admin_sessions.c.expires_at < now))
            conn.execute(
                insert(admin_sessions).values(
                    token_hash=session.token_hash,
                    csrf_token=session.csrf_token,
                    created_at=now,
                    expires_at=session.expires_at,
                )
            )
        return f"{token}.{self._sign(token)}", session

    def resolve(self, cookie: str | None) -> AdminSession | None:
        """The live session a cookie names, or None (unsigned, forged, expired or ended)."""
        if not cookie or "." not in cookie:
            return None
        token, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(token).encode()):
            return None
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(admin_sessions).where(admin_sessions.c.token_hash == _digest(token)))
                .mappings()
                .first()
            )
        if row is None or _utc(row["expires_at"]) <= datetime.now(UTC):
            return None
        return AdminSession(row["token_hash"], row["csrf_token"], _utc(row["expires_at"]))

    def end(self, session: AdminSession) -> None:
        """Log out: the session's row is gone, so its cookie no longer works anywhere."""
        with self.engine.begin() as conn:
            conn.execute(delete(admin_sessions).where(admin_sessions.c.token_hash == session.token_hash))
