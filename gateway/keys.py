"""The API key store: hashed keys with names, status, expiry, rate limits and usage counts.

Keys are ``imgen_`` + 32 URL-safe random characters (~190 bits), shown once at
creation. At rest only their SHA-256 is kept (a key that cannot be guessed needs no slow
password hash) plus a short prefix so an operator can tell keys apart. The store is plain
synchronous Python over a SQLAlchemy URL so the CLI (``imgen keys ...``) and the gateway
share it; the gateway calls it off the event loop (see :mod:`gateway.auth`).

Every change that can refuse a key (disable, rotate, delete, a new expiry) bumps one
row, the *revision*, in the same transaction. Gateway replicas cache verifications and
read that single row about once a second: when it moved, they drop their cache, so a
revoked key is refused on every replica within that second instead of a cache TTL.
Requests are also counted per key and UTC day (``api_key_usage_daily``) for the
admin panel's usage chart.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError

KEY_PREFIX = "imgen_"
KEY_RANDOM_CHARS = 32
#: How many leading characters of a key are stored in clear to identify it.
SHOWN_PREFIX_CHARS = len(KEY_PREFIX) + 6
#: The primary key of the only row of ``api_key_revision``.
REVISION_ROW = 1

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
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("rate_limit_per_minute", Integer, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=True),
)

#: One row whose counter moves with every change that may refuse a key.
api_key_revision = Table(
    "api_key_revision",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("revision", Integer, nullable=False, default=0),
)

#: Requests per key per UTC day, incremented by the authenticator's buffered flush.
api_key_usage_daily = Table(
    "api_key_usage_daily",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("request_count", Integer, nullable=False, default=0),
)

#: Columns added after the first release, created on old databases at startup.
_LATER_COLUMNS = ("expires_at", "rate_limit_per_minute", "updated_at")


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
    expires_at: datetime | None = None
    #: Requests per minute this key may make; None uses the gateway's default limit.
    rate_limit_per_minute: int | None = None

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the key's expiry has passed."""
        return self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC))

    def status(self, now: datetime | None = None) -> str:
        """``enabled``, ``disabled`` or ``expired``, as the panel and CLI show it."""
        if not self.enabled:
            return "disabled"
        return "expired" if self.expired(now) else "enabled"


@dataclass(frozen=True)
class Usage:
    """Requests counted for one key since the last flush.

    ``by_day`` splits ``count`` by UTC day; empty means all of it on ``last_used_at``'s day.
    """

    count: int
    last_used_at: datetime
    by_day: Mapping[date, int] = field(default_factory=dict)

    def days(self) -> Mapping[date, int]:
        """Counts per UTC day."""
        return self.by_day or {self.last_used_at.astimezone(UTC).date(): self.count}


@dataclass(frozen=True)
class DailyUsage:
    """One row of the usage table."""

    key_id: str
    day: date
    request_count: int


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
    limit = row.get("rate_limit_per_minute")
    return ApiKeyRecord(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        enabled=bool(row["enabled"]),
        created_at=_utc(row["created_at"]),
        last_used_at=_utc(row["last_used_at"]) if row["last_used_at"] is not None else None,
        request_count=int(row["request_count"]),
        expires_at=_utc(row["expires_at"]) if row.get("expires_at") is not None else None,
        rate_limit_per_minute=int(limit) if limit is not None else None,
    )


def _utc(value: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _check_options(expires_at: datetime | None, rate_limit_per_minute: int | None) -> None:
    if expires_at is not None and expires_at.tzinfo is None:
        raise ValueError("expires_at needs a time zone")
    if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
        raise ValueError("a rate limit is at least 1 request per minute")


class KeyStore:
    """CRUD and usage accounting for API keys over one database URL."""

    def __init__(self, database_url: str, engine: Engine | None = None) -> None:
        self.database_url = database_url
        self.engine = engine or make_engine(database_url)
        metadata.create_all(self.engine)
        self._upgrade_schema()

    def _upgrade_schema(self) -> None:
        """Add columns newer than a database's ``api_keys`` table, and the revision row."""
        present = {column["name"] for column in inspect(self.engine).get_columns("api_keys")}
        with self.engine.begin() as conn:
            for name in _LATER_COLUMNS:
                if name not in present:
                    column = api_keys.c[name]
                    kind = column.type.compile(dialect=self.engine.dialect)
                    conn.execute(text(f"ALTER TABLE api_keys ADD COLUMN {name} {kind}"))
            exists = conn.execute(
                select(api_key_revision.c.id).where(api_key_revision.c.id == REVISION_ROW)
            ).first()
        if exists is None:
            # another process may insert it first
            with contextlib.suppress(IntegrityError), self.engine.begin() as conn:
                conn.execute(insert(api_key_revision).values(id=REVISION_ROW, revision=0))

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    # -- reads -------------------------------------------------------------------

    def revision(self) -> int:
        """The revocation counter: one primary-key read that every replica polls."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(api_key_revision.c.revision).where(api_key_revision.c.id == REVISION_ROW)
            ).scalar()
        return int(value or 0)

    def verify(self, plaintext: str) -> ApiKeyRecord | None:
        """The record of an enabled, unexpired key matching ``plaintext``, else None."""
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
        record = _record(row)
        return None if record.expired() else record

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

    def find_by_name(self, name: str) -> ApiKeyRecord | None:
        """The oldest key called ``name``, if any."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(api_keys).where(api_keys.c.name == name).order_by(api_keys.c.created_at).limit(1)
                )
                .mappings()
                .first()
            )
        return _record(row) if row is not None else None

    def daily_usage(self, since: date) -> list[DailyUsage]:
        """Requests per key per UTC day from ``since`` on, oldest day first."""
        t = api_key_usage_daily
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.day >= since).order_by(t.c.day, t.c.key_id)).mappings()
            return [DailyUsage(row["key_id"], row["day"], int(row["request_count"])) for row in rows]

    # -- writes ------------------------------------------------------------------

    def create(
        self,
        name: str,
        *,
        expires_at: datetime | None = None,
        rate_limit_per_minute: int | None = None,
    ) -> tuple[ApiKeyRecord, str]:
        """A new enabled key named ``name``: (its record, the plaintext to show once)."""
        name = name.strip()
        if not name:
            raise ValueError("a key needs a name")
        _check_options(expires_at, rate_limit_per_minute)
        plaintext = new_plaintext_key()
        now = datetime.now(UTC)
        row = {
            "id": "key_" + secrets.token_hex(8),
            "name": name[:200],
            "prefix": plaintext[:SHOWN_PREFIX_CHARS],
            "key_hash": hash_key(plaintext),
            "enabled": True,
            "created_at": now,
            "last_used_at": None,
            "request_count": 0,
            "expires_at": expires_at,
            "rate_limit_per_minute": rate_limit_per_minute,
            "updated_at": now,
        }
        with self.engine.begin() as conn:
            conn.execute(insert(api_keys).values(**row))
        return _record(row), plaintext

    def _change(self, ref: str, **values: Any) -> ApiKeyRecord | None:
        """Apply ``values`` to the key named by id or prefix and bump the revision, atomically."""
        record = self.get(ref)
        if record is None:
            return None
        with self.engine.begin() as conn:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == record.id)
                .values(updated_at=datetime.now(UTC), **values)
            )
            self._bump(conn)
        return self.get(record.id)

    @staticmethod
    def _bump(conn: Connection) -> None:
        conn.execute(
            update(api_key_revision)
            .where(api_key_revision.c.id == REVISION_ROW)
            .values(revision=api_key_revision.c.revision + 1)
        )

    def set_enabled(self, ref: str, enabled: bool) -> ApiKeyRecord | None:
        """Enable or disable the key named by id or prefix; None if there is no such key."""
        return self._change(ref, enabled=enabled)

    def enable(self, ref: str) -> ApiKeyRecord | None:
        """Let the key authenticate again."""
        return self.set_enabled(ref, True)

    def disable(self, ref: str) -> ApiKeyRecord | None:
        """Refuse the key from now on, on every replica (they watch the revision row)."""
        return self.set_enabled(ref, False)

    def update_limits(
        self, ref: str, *, expires_at: datetime | None, rate_limit_per_minute: int | None
    ) -> ApiKeyRecord | None:
        """Replace the key's expiry and per-key rate limit (None clears them)."""
        _check_options(expires_at, rate_limit_per_minute)
        return self._change(ref, expires_at=expires_at, rate_limit_per_minute=rate_limit_per_minute)

    def rotate(self, ref: str) -> tuple[ApiKeyRecord, str] | None:
        """A new secret for the same key record; the old secret is refused from now on."""
        plaintext = new_plaintext_key()
        record = self._change(ref, key_hash=hash_key(plaintext), prefix=plaintext[:SHOWN_PREFIX_CHARS])
        return (record, plaintext) if record is not None else None

    def delete(self, ref: str) -> bool:
        """Remove the key named by id or prefix; False if there was no such key.

        Its daily usage rows stay, so past traffic still adds up on the usage page.
        """
        record = self.get(ref)
        if record is None:
            return False
        with self.engine.begin() as conn:
            conn.execute(delete(api_keys).where(api_keys.c.id == record.id))
            self._bump(conn)
        return True

    def record_usage(self, usage: Mapping[str, Usage]) -> None:
        """Add counted requests in one transaction, atomically in the database.

        ``request_count = request_count + n`` (and an upsert with the same increment for
        the daily table) lets several gateway replicas flush at the same time without
        losing increments.
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
                for day, count in item.days().items():
                    conn.execute(self._daily_increment(key_id, day, count))

    def _daily_increment(self, key_id: str, day: date, count: int) -> Any:
        """``INSERT ... ON CONFLICT DO UPDATE SET request_count = request_count + n``."""
        t = api_key_usage_daily
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        statement = dialect_insert(t).values(key_id=key_id, day=day, request_count=count)
        return statement.on_conflict_do_update(
            index_elements=[t.c.key_id, t.c.day],
            set_={"request_count": t.c.request_count + statement.excluded.request_count},
        )


def open_store(database_url: str) -> KeyStore:
    """The admin entry point the CLI uses: a store over ``database_url``."""
    return KeyStore(database_url)
