"""Persistent webhook deliveries, so a gateway restart loses none.

A row is written when ``generate`` accepts a job with a ``webhook`` (state ``watching``).
The dispatcher moves it to ``pending`` with its payload once the job ends (or ``skipped``
when the event is filtered out), then to ``delivered`` or, after the last retry,
``failed``. Work is claimed with a short lease by a conditional UPDATE, so several gateway
replicas sharing the database never deliver the same row at the same time, and a replica
that dies mid-delivery leaves the row to be taken again when the lease runs out.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, insert, or_, select, update
from sqlalchemy.engine import Engine, RowMapping

WATCHING = "watching"
PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
SKIPPED = "skipped"

metadata = MetaData()

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("job_id", String(64), nullable=False, index=True),
    Column("api_key_id", String(32), nullable=False),
    Column("url", Text, nullable=False),
    #: Subscribed events, comma-separated.
    Column("events", Text, nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    #: When the job should be looked at again (watching) or the next attempt is due (pending).
    Column("next_at", DateTime(timezone=True), nullable=False, index=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("event", String(32), nullable=True),
    Column("payload", Text, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Delivery:
    """One webhook subscription of one job and where its delivery stands."""

    id: str
    job_id: str
    api_key_id: str
    url: str
    events: tuple[str, ...]
    state: str
    attempts: int
    next_at: datetime
    event: str | None
    payload: str | None
    last_status: int | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: RowMapping) -> Delivery:
        return cls(
            id=row["id"],
            job_id=row["job_id"],
            api_key_id=row["api_key_id"],
            url=row["url"],
            events=tuple(e for e in row["events"].split(",") if e),
            state=row["state"],
            attempts=int(row["attempts"]),
            next_at=_utc(row["next_at"]) or datetime.now(UTC),
            event=row["event"],
            payload=row["payload"],
            last_status=row["last_status"],
            last_error=row["last_error"],
        )


class DeliveryStore:
    """The ``webhook_deliveries`` table (same database as the API keys)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def watch(self, job_id: str, api_key_id: str, url: str, events: Sequence[str]) -> str:
        """Remember that ``job_id`` must be reported to ``url``; the new delivery's id."""
        now = datetime.now(UTC)
        delivery_id = "whd_" + secrets.token_hex(10)
        with self.engine.begin() as conn:
            conn.execute(
                insert(webhook_deliveries).values(
                    id=delivery_id,
                    job_id=job_id,
                    api_key_id=api_key_id,
                    url=url,
                    events=",".join(events),
                    state=WATCHING,
                    attempts=0,
                    next_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
        return delivery_id

    def claim(self, state: str, limit: int, lease_s: float, now: datetime | None = None) -> list[Delivery]:
        """Up to ``limit`` due rows in ``state``, leased to this caller for ``lease_s``."""
        now = now or datetime.now(UTC)
        table = webhook_deliveries
        due = (
            select(table.c.id)
            .where(
                table.c.state == state,
                table.c.next_at <= now,
                or_(table.c.lease_until.is_(None), table.c.lease_until <= now),
            )
            .order_by(table.c.next_at)
            .limit(limit)
        )
        claimed: list[Delivery] = []
        lease_until = now + timedelta(seconds=lease_s)
        with self.engine.begin() as conn:
            for delivery_id in conn.execute(due).scalars().all():
                taken = conn.execute(
                    update(table)
                    .where(
                        table.c.id == delivery_id,
                        table.c.state == state,
                        or_(table.c.lease_until.is_(None), table.c.lease_until <= now),
                    )
                    .values(lease_until=lease_until)
                )
                if taken.rowcount == 1:
                    row = conn.execute(select(table).where(table.c.id == delivery_id)).mappings().one()
                    claimed.append(Delivery.from_row(row))
        return claimed

    def _set(self, delivery_id: str, **values: object) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == delivery_id)
                .values(lease_until=None, updated_at=datetime.now(UTC), **values)
            )

    def recheck_at(self, delivery_id: str, when: datetime) -> None:
        """The job is still running: look again at ``when``."""
        self._set(delivery_id, next_at=when)

    def ready(self, delivery_id: str, event: str, payload: str) -> None:
        """The job ended with a subscribed event: deliver ``payload`` now."""
        self._set(delivery_id, state=PENDING, event=event, payload=payload, next_at=datetime.now(UTC))

    def skip(self, delivery_id: str, event: str, reason: str) -> None:
        """Nothing to send (event filtered out, or the job is gone)."""
        self._set(delivery_id, state=SKIPPED, event=event, last_error=reason[:500])

    def delivered(self, delivery_id: str, attempts: int, status: int | None) -> None:
        """The receiver accepted the payload."""
        self._set(delivery_id, state=DELIVERED, attempts=attempts, last_status=status, last_error=None)

    def retry_at(
        self, delivery_id: str, attempts: int, when: datetime, status: int | None, error: str
    ) -> None:
        """The attempt failed; try again at ``when``."""
        self._set(delivery_id, attempts=attempts, next_at=when, last_status=status, last_error=error[:500])

    def give_up(self, delivery_id: str, attempts: int, status: int | None, error: str) -> None:
        """The last attempt failed, or the target is refused by policy."""
        self._set(delivery_id, state=FAILED, attempts=attempts, last_status=status, last_error=error[:500])

    def get(self, delivery_id: str) -> Delivery | None:
        """One delivery by id."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id))
                .mappings()
                .first()
            )
        return Delivery.from_row(row) if row is not None else None

    def for_job(self, job_id: str) -> list[Delivery]:
        """Every delivery registered for ``job_id``."""
        with self.engine.connect() as conn:
            rows = (
                conn.execute(select(webhook_deliveries).where(webhook_deliveries.c.job_id == job_id))
                .mappings()
                .all()
            )
        return [Delivery.from_row(row) for row in rows]
