"""The API key store: hashed keys with names, an enabled flag and usage counts.

Keys are ``imgen_`` + 32 URL-safe random characters (~190 bits), shown once at
creation. At rest only their SHA-256 is kept (a key that cannot be guessed needs no slow
password hash) plus a short prefix so an operator can tell keys apart. The store is plain
synchronous Python over a SQLAlchemy URL so the CLI (``imgen keys ...``) and the gateway
share it; the gateway calls it off the event loop (see :mod:`gateway.auth`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine, RowMapping

KEY_PREFIX = "imgen_"
KEY_RANDOM_CHARS = 32
#: How many leading characters of a key are stored in clear to identify it.
SHOWN_PREFIX_CHARS = len(KEY_PREFIX) + 6

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(32), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("request_count", Integer, nullable=False, default=0),
)


@dataclass(frozen=True)
class ApiKeyRecord:
    """What the store knows about a key; never the key itself."""

    id: str
    name: str
    prefix: str
    enabled: bool
    created_at: datetime
    last_used_at: datetime | None
    request_count: int


@dataclass(frozen=True)
class Usage:
    """Requests counted for one key since the last flush."""

    count: int
    last_used_at: datetime


def hash_key(plaintext: str) -> str:
    """SHA-256 hex of a key, the only form in which it is stored."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def new_plaintext_key() -> str:
    """A fresh key: ``imgen_`` + 32 URL-safe random characters."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_CHARS)[:KEY_RANDOM_CHARS]


def looks_like_key(value: str) -> bool:
    """Cheap shape check so garbage never reaches the database."""
    return (
        value.startswith(KEY_PREFIX)
        and len(value) == len(KEY_PREFIX) + KEY_RANDOM_CHARS
        and all(c.isalnum() or c in "-_" for c in value[len(KEY_PREFIX) :])
    )


def default_database_url(data_dir: Path) -> str:
    """The embedded default: a SQLite file in the data directory."""
    return f"sqlite:///{Path(data_dir) / 'gateway.sqlite3'}"


def make_engine(database_url: str) -> Engine:
    """An engine for ``database_url``; SQLite gets WAL and a busy timeout.

    Several processes (the gateway, the CLI, tests) may write the same SQLite file; the
    busy timeout makes them wait for each other instead of failing with "locked".
    """
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(database_url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(database_url, pool_pre_ping=True)


def _record(row: Mapping[str, Any] | RowMapping) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        enabled=bool(row["enabled"]),
        created_at=_utc(row["created_at"]),
        last_used_at=_utc(row["last_used_at"]) if row["last_used_at"] is not None else None,
        request_count=int(row["request_count"]),
    )


def _utc(value: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class KeyStore:
    """CRUD and usage accounting for API keys over one database URL."""

    def __init__(self, database_url: str, engine: Engine | None = None) -> None:
        self.database_url = database_url
        self.engine = engine or make_engine(database_url)
        metadata.create_all(self.engine)

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    def create(self, name: str) -> tuple[ApiKeyRecord, str]:
        """A new enabled key named ``name``: (its record, the plaintext to show once)."""
        name = name.strip()
        if not name:
            raise ValueError("a key needs a name")
        plaintext = new_plaintext_key()
        row = {
            "id": "key_" + secrets.token_hex(8),
            "name": name[:200],
            "prefix": plaintext[:SHOWN_PREFIX_CHARS],
            "key_hash": hash_key(plaintext),
            "enabled": True,
            "created_at": datetime.now(UTC),
            "last_used_at": None,
            "request_count": 0,
        }
        with self.engine.begin() as conn:
            conn.execute(insert(api_keys).values(**row))
        return _record(row), plaintext

    def verify(self, plaintext: str) -> ApiKeyRecord | None:
        """The record of an enabled key matching ``plaintext``, else None."""
        if not looks_like_key(plaintext):
            return None
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(api_keys).where(api_keys.c.key_hash == hash_key(plaintext)))
                .mappings()
                .first()
            )
        if row is None or not row["enabled"]:
            return None
        return _record(row)

    def list(self) -> list[ApiKeyRecord]:
        """Every key, oldest first."""
        with self.engine.connect() as conn:
            rows = (
                conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)).mappings().all()
            )
        return [_record(row) for row in rows]

    def get(self, ref: str) -> ApiKeyRecord | None:
        """The key whose id or shown prefix is ``ref`` (None if none or ambiguous)."""
        with self.engine.connect() as conn:
            rows = (
                conn.execute(select(api_keys).where(or_(api_keys.c.id == ref, api_keys.c.prefix == ref)))
                .mappings()
                .all()
            )
        return _record(rows[0]) if len(rows) == 1 else None

    def set_enabled(self, ref: str, enabled: bool) -> ApiKeyRecord | None:
        """Enable or disable the key named by id or prefix; None if there is no such key."""
        record = self.get(ref)
        if record is None:
            return None
        with self.engine.begin() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == record.id).values(enabled=enabled))
        return self.get(record.id)

    def enable(self, ref: str) -> ApiKeyRecord | None:
        """Let the key authenticate again."""
        return self.set_enabled(ref, True)

    def disable(self, ref: str) -> ApiKeyRecord | None:
        """Refuse the key from now on (the gateway notices within its cache TTL)."""
        return self.set_enabled(ref, False)

    def delete(self, ref: str) -> bool:
        """Remove the key named by id or prefix; False if there was no such key."""
        record = self.get(ref)
        if record is None:
            return False
        with self.engine.begin() as conn:
            conn.execute(delete(api_keys).where(api_keys.c.id == record.id))
        return True

    def record_usage(self, usage: Mapping[str, Usage]) -> None:
        """Add counted requests in one transaction, atomically in the database.

        ``request_count = request_count + n`` lets several gateway replicas flush at
        the same time without losing increments.
        """
        if not usage:
            return
        with self.engine.begin() as conn:
            for key_id, item in usage.items():
                conn.execute(
                    update(api_keys)
                    .where(api_keys.c.id == key_id)
                    .values(
                        request_count=api_keys.c.request_count + item.count,
                        last_used_at=item.last_used_at,
                    )
                )


def open_store(database_url: str) -> KeyStore:
    """The admin entry point the CLI uses: a store over ``database_url``."""
    return KeyStore(database_url)
