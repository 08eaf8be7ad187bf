"""``Idempotency-Key`` on ``generate``: a retried request returns the job of the first one.

A client that lost the answer to a ``generate`` (timeout, dropped connection) can send the
same request again with the same key and gets the same job instead of a second one. The
key is scoped to the API key, remembered for ``idempotency_ttl_s``, and bound to a hash
of the request body: the same key with a different body is a client bug and gets 409.

The row is reserved *before* the job is submitted, so two concurrent retries cannot both
submit; the second one gets 409 while the first is in flight. A reservation whose request
died with its gateway is taken over after :data:`ABANDONED_AFTER`. The table lives in the
gateway's database next to the API keys.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, and_, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from gateway.errors import ApiError
from services.shared.logging import get_logger

log = get_logger(__name__)

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 255
#: A reservation older than this without a stored answer belongs to a request that died.
ABANDONED_AFTER = timedelta(minutes=5)

KEY_REUSED = "Idempotency-Key was already used with a different request"
IN_PROGRESS = "A request with this Idempotency-Key is still in progress"
BAD_KEY = f"Idempotency-Key must be 1-{MAX_KEY_CHARS} printable ASCII characters"

metadata = MetaData()

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("api_key_id", String(32), primary_key=True),
    Column("idem_key", String(MAX_KEY_CHARS), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    #: The JSON answer; NULL while the first request is still running.
    Column("response", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True)
class Replay:
    """The stored answer of an earlier request with the same key and body."""

    response: dict[str, Any]


def valid_key(value: str) -> str:
    """The header's value if usable as a key, else a 400."""
    if not 1 <= len(value) <= MAX_KEY_CHARS or not all(" " <= c <= "~" for c in value):
        raise ApiError(400, BAD_KEY)
    return value


def request_hash(body: dict[str, Any]) -> str:
    """SHA-256 of the body in a canonical form, so key order and spacing do not matter."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class IdempotencyStore:
    """Reservations and stored answers, keyed by (API key id, Idempotency-Key)."""

    def __init__(self, engine: Engine, ttl_s: int) -> None:
        self.engine = engine
        self.ttl = timedelta(seconds=ttl_s)
        metadata.create_all(engine)

    def _where(self, api_key_id: str, key: str) -> Any:
        return and_(idempotency_keys.c.api_key_id == api_key_id, idempotency_keys.c.idem_key == key)

    def reserve(self, api_key_id: str, key: str, digest: str, now: datetime | None = None) -> Replay | None:
        """Claim the key for a new request (None), or the earlier answer to replay.

        Raises 409 when the key belongs to a different body or to a request in flight.
        """
        now = now or datetime.now(UTC)
        where = self._where(api_key_id, key)
        with self.engine.begin() as conn:
            conn.execute(delete(idempotency_keys).where(where, idempotency_keys.c.expires_at <= now))
        row_values = {
            "api_key_id": api_key_id,
            "idem_key": key,
            "request_hash": digest,
            "response": None,
            "created_at": now,
            "expires_at": now + self.ttl,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(idempotency_keys).values(**row_values))
            return None
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            row = conn.execute(select(idempotency_keys).where(where)).mappings().first()
            if row is None:  # expired and purged between our two statements: take it
                conn.execute(insert(idempotency_keys).values(**row_values))
                return None
            if row["request_hash"] != digest:
                raise ApiError(409, KEY_REUSED)
            if row["response"] is not None:
                return Replay(json.loads(row["response"]))
            if _utc(row["created_at"]) > now - ABANDONED_AFTER:
                raise ApiError(409, IN_PROGRESS)
            taken = conn.execute(
                update(idempotency_keys)
                .where(where, idempotency_keys.c.created_at == row["created_at"])
                .values(created_at=now, expires_at=now + self.ttl)
            )
            if taken.rowcount != 1:
                raise ApiError(409, IN_PROGRESS)
        return None

    def complete(self, api_key_id: str, key: str, response: dict[str, Any]) -> None:
        """Store the answer that retries will get."""
        with self.engine.begin() as conn:
            conn.execute(
                update(idempotency_keys)
                .where(self._where(api_key_id, key))
                .values(response=json.dumps(response, separators=(",", ":")))
            )

    def release(self, api_key_id: str, key: str) -> None:
        """Forget a reservation whose request failed, so a retry may run it."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(idempotency_keys).where(
                    self._where(api_key_id, key), idempotency_keys.c.response.is_(None)
                )
            )

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete expired keys; how many went."""
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(idempotency_keys).where(idempotency_keys.c.expires_at <= (now or datetime.now(UTC)))
            )
        return int(result.rowcount or 0)


async def run_once(
    store: IdempotencyStore,
    api_key_id: str,
    key: str,
    body: dict[str, Any],
    call: Callable[[], Awaitable[dict[str, Any]]],
) -> tuple[dict[str, Any], bool]:
    """(answer, replayed): ``call()``'s answer, run at most once per key and body.

    A failed call releases the key so that the client's retry is a real new attempt.
    """
    key = valid_key(key)
    replay = await anyio.to_thread.run_sync(store.reserve, api_key_id, key, request_hash(body))
    if replay is not None:
        return replay.response, True
    try:
        answer = await call()
    except BaseException:
        await anyio.to_thread.run_sync(store.release, api_key_id, key)
        raise
    await anyio.to_thread.run_sync(store.complete, api_key_id, key, answer)
    return answer, False


async def run_purger(store: IdempotencyStore, interval_s: float = 3600.0) -> None:
    """Delete expired keys every ``interval_s`` until cancelled, so the table does not grow forever."""
    while True:
        try:
            removed = await anyio.to_thread.run_sync(store.purge_expired)
            if removed:
                log.info("expired idempotency keys purged", count=removed)
        except Exception:
            log.exception("could not purge idempotency keys; will retry")
        await asyncio.sleep(interval_s)
