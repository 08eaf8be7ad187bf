"""The durable job store: one class over SQLite (the default) and PostgreSQL.

Jobs outlive every process: the gateway polls them after a restart, and a worker that
dies mid-job leaves a lease that expires so another worker retries the job. Claiming is
the contended operation, and each backend gets the locking it is good at:

- PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` so concurrent workers each take a
  different row without waiting on each other;
- SQLite: every transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time, WAL
  so readers never wait) and the claim is a single ``UPDATE ... WHERE id = (SELECT ...)
  RETURNING``.

Every state change reads the current state inside the write transaction, checks it
against the state machine, and updates with ``WHERE state = <what was read>``, so no
transition can be applied twice or from the wrong state. The store is synchronous;
async callers wrap it in ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, RowMapping

from services.inference.jobs.ids import new_gen_id, new_job_id
from services.inference.jobs.states import TERMINAL_STATES, JobState, check_initial, check_transition

Clock = Callable[[], datetime]

#: Execution option naming the SQLite BEGIN mode: reads use DEFERRED so polling never
#: takes the write lock that claims and heartbeats need.
SQLITE_BEGIN_OPTION = "imgen_sqlite_begin"

COMPLIANCE_SAFE = "safe"
COMPLIANCE_UNSAFE = "unsafe"


def utc_now() -> datetime:
    """The store's default clock."""
    return datetime.now(UTC)


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite+pysqlite:///{path}"


class JobNotFound(LookupError):
    """No job has this id."""


class LeaseLost(Exception):
    """The caller no longer holds the job: it was cancelled, requeued or taken over."""


@dataclass(frozen=True)
class JobRecord:
    """One job row. Protobuf payloads stay serialized; the store does not interpret them."""

    id: str
    gen_id: str
    state: JobState
    spec: bytes
    prompt_verdict: bytes
    image_verdict: bytes
    result: bytes
    error: str
    compliance: str
    attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    step: int
    total_steps: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class RequeueReport:
    """What one :meth:`JobStore.requeue_expired` pass did."""

    requeued: list[str]
    failed: list[str]


def _build_table(metadata: MetaData, name: str) -> Table:
    table = Table(
        name,
        metadata,
        Column("id", String(24), primary_key=True),
        Column("gen_id", String(20), nullable=False, unique=True),
        Column("state", String(16), nullable=False),
        Column("spec", LargeBinary, nullable=False),
        Column("prompt_verdict", LargeBinary, nullable=False, default=b""),
        Column("image_verdict", LargeBinary, nullable=False, default=b""),
        Column("result", LargeBinary, nullable=False, default=b""),
        Column("error", Text, nullable=False, default=""),
        Column("compliance", String(8), nullable=False, default=""),
        Column("attempts", Integer, nullable=False, default=0),
        Column("lease_owner", String(128), nullable=True),
        Column("lease_expires_at", DateTime(timezone=True), nullable=True),
        Column("step", Integer, nullable=False, default=0),
        Column("total_steps", Integer, nullable=False, default=0),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("started_at", DateTime(timezone=True), nullable=True),
        Column("finished_at", DateTime(timezone=True), nullable=True),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    Index(f"ix_{name}_queue", table.c.state, table.c.created_at, table.c.id)
    Index(f"ix_{name}_lease", table.c.state, table.c.lease_expires_at)
    Index(f"ix_{name}_finished", table.c.finished_at)
    return table


def _as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _progress(progress: tuple[int, int] | None) -> dict[str, int]:
    if progress is None:
        return {}
    step, total = progress
    return {"step": step, "total_steps": total}


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for every transaction."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN instead of the driver's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


class JobStore:
    """Jobs in one table of a SQLite or PostgreSQL database.

    ``table_prefix`` lets tests (and several deployments sharing a database) keep their
    tables apart; ``clock`` lets tests move time instead of sleeping.
    """

    def __init__(
        self, url: str, *, table_prefix: str = "", clock: Clock = utc_now, echo: bool = False
    ) -> None:
        self.url = url
        self._clock = clock
        self.metadata = MetaData()
        self.table = _build_table(self.metadata, f"{table_prefix}jobs")
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            database = url.split(":///", 1)[-1]
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False}
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(url, echo=echo, pool_pre_ping=True)

    # -- lifecycle ---------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the table and its indexes if missing, without migrations (unit tests only).

        Services migrate instead (:mod:`services.inference.migrate`), so a database is
        versioned from the start.
        """
        self.metadata.create_all(self.engine)

    def drop_schema(self) -> None:
        """Drop the table (tests clean up with this)."""
        self.metadata.drop_all(self.engine)

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            connection.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
            try:
                yield connection
            finally:
                connection.rollback()

    def _now(self) -> datetime:
        return self._clock()

    # -- reads ---------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        """The job ``job_id``; raises :class:`JobNotFound`."""
        with self._read() as connection:
            row = connection.execute(select(self.table).where(self.table.c.id == job_id)).mappings().first()
        if row is None:
            raise JobNotFound(job_id)
        return self._record(row)

    def queue_position(self, job_id: str) -> int:
        """How many queued jobs are ahead of ``job_id`` (0 when it is next or not queued)."""
        t = self.table
        with self._read() as connection:
            row = connection.execute(select(t.c.state, t.c.created_at).where(t.c.id == job_id)).first()
            if row is None:
                raise JobNotFound(job_id)
            if row.state != JobState.IN_QUEUE.value:
                return 0
            ahead = connection.execute(
                select(func.count())
                .select_from(t)
                .where(
                    t.c.state == JobState.IN_QUEUE.value,
                    or_(
                        t.c.created_at < row.created_at,
                        and_(t.c.created_at == row.created_at, t.c.id < job_id),
                    ),
                )
            ).scalar_one()
        return int(ahead)

    def count(self, state: JobState) -> int:
        """Number of jobs in ``state`` (queue depth for metrics and autoscaling)."""
        with self._read() as connection:
            total = connection.execute(
                select(func.count()).select_from(self.table).where(self.table.c.state == state.value)
            ).scalar_one()
        return int(total)

    def list_page(
        self, states: list[JobState], before: tuple[datetime, str] | None, limit: int
    ) -> list[JobRecord]:
        """Up to ``limit`` jobs in ``states`` (all when empty), newest first, older than ``before``.

        ``before`` is the (created_at, id) of the last job of the previous page: keyset
        paging, so a page costs the same however deep it is.
        """
        t = self.table
        query = select(t).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
        if states:
            query = query.where(t.c.state.in_([state.value for state in states]))
        if before is not None:
            created_at, job_id = before
            query = query.where(
                or_(t.c.created_at < created_at, and_(t.c.created_at == created_at, t.c.id < job_id))
            )
        with self._read() as connection:
            rows = connection.execute(query).mappings().all()
        return [self._record(row) for row in rows]

    # -- writes ---------------------------------------------------------------

    def submit(self, spec: bytes, prompt_verdict: bytes = b"", *, blocked: bool = False) -> JobRecord:
        """Record a new job: queued, or COMPLETED and unsafe when its prompt was blocked."""
        state = JobState.COMPLETED if blocked else JobState.IN_QUEUE
        check_initial(state)
        now = self._now()
        values: dict[str, Any] = {
            "id": new_job_id(),
            "gen_id": new_gen_id(),
            "state": state.value,
            "spec": spec,
            "prompt_verdict": prompt_verdict,
            "image_verdict": b"",
            "result": b"",
            "error": "",
            "compliance": COMPLIANCE_UNSAFE if blocked else "",
            "attempts": 0,
            "lease_owner": None,
            "lease_expires_at": None,
            "step": 0,
            "total_steps": 0,
            "created_at": now,
            "started_at": None,
            "finished_at": now if blocked else None,
            "updated_at": now,
        }
        with self._transaction() as connection:
            connection.execute(self.table.insert().values(**values))
        return self._record(values)

    def claim_next(self, worker_id: str, lease_s: float) -> JobRecord | None:
        """Take the oldest queued job for ``worker_id`` with a lease of ``lease_s`` seconds."""
        check_transition(JobState.IN_QUEUE, JobState.IN_PROGRESS)
        t = self.table
        now = self._now()
        changes = {
            "state": JobState.IN_PROGRESS.value,
            "lease_owner": worker_id,
            "lease_expires_at": now + timedelta(seconds=lease_s),
            "attempts": t.c.attempts + 1,
            "step": 0,
            "started_at": func.coalesce(t.c.started_at, now),
            "updated_at": now,
        }
        oldest = (
            select(t.c.id)
            .where(t.c.state == JobState.IN_QUEUE.value)
            .order_by(t.c.created_at, t.c.id)
            .limit(1)
        )
        with self._transaction() as connection:
            if self.is_sqlite:
                statement = (
                    update(t)
                    .where(t.c.id == oldest.scalar_subquery(), t.c.state == JobState.IN_QUEUE.value)
                    .values(**changes)
                    .returning(*t.c)
                )
                row = connection.execute(statement).mappings().first()
            else:
                job_id = connection.execute(oldest.with_for_update(skip_locked=True)).scalar()
                if job_id is None:
                    return None
                row = (
                    connection.execute(
                        update(t)
                        .where(t.c.id == job_id, t.c.state == JobState.IN_QUEUE.value)
                        .values(**changes)
                        .returning(*t.c)
                    )
                    .mappings()
                    .first()
                )
        return self._record(row) if row is not None else None

    def heartbeat(self, job_id: str, worker_id: str, lease_s: float, step: int, total_steps: int) -> bool:
        """Renew the lease and record progress; False when the worker no longer holds the job."""
        t = self.table
        now = self._now()
        with self._transaction() as connection:
            changed = connection.execute(
                update(t)
                .where(
                    t.c.id == job_id, t.c.state == JobState.IN_PROGRESS.value, t.c.lease_owner == worker_id
                )
                .values(
                    lease_expires_at=now + timedelta(seconds=lease_s),
                    step=step,
                    total_steps=total_steps,
                    updated_at=now,
                )
            ).rowcount
        return changed == 1

    def complete(
        self,
        job_id: str,
        worker_id: str,
        *,
        result: bytes,
        compliance: str,
        image_verdict: bytes = b"",
        progress: tuple[int, int] | None = None,
    ) -> JobRecord:
        """Finish a running job held by ``worker_id`` as COMPLETED (delivered or blocked).

        ``progress`` (step, total) records the final step, which a job shorter than one
        heartbeat would otherwise never show.
        """
        if compliance not in (COMPLIANCE_SAFE, COMPLIANCE_UNSAFE):
            raise ValueError(f"compliance must be 'safe' or 'unsafe', not {compliance!r}")
        values: dict[str, Any] = {"result": result, "compliance": compliance, "image_verdict": image_verdict}
        return self._finish_owned(job_id, worker_id, JobState.COMPLETED, {**values, **_progress(progress)})

    def fail(
        self,
        job_id: str,
        worker_id: str,
        error: str,
        *,
        timed_out: bool = False,
        progress: tuple[int, int] | None = None,
    ) -> JobRecord:
        """Finish a running job held by ``worker_id`` as FAILED (or TIMED_OUT) with ``error``."""
        target = JobState.TIMED_OUT if timed_out else JobState.FAILED
        return self._finish_owned(job_id, worker_id, target, {"error": error, **_progress(progress)})

    def release(self, job_id: str, worker_id: str) -> JobRecord:
        """Hand a running job back to the queue (a worker shutting down mid-job)."""
        return self._transition(
            job_id,
            JobState.IN_QUEUE,
            {"lease_owner": None, "lease_expires_at": None, "step": 0},
            owner=worker_id,
        )

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued or running job; a running one's worker sees it at its next heartbeat."""
        now = self._now()
        return self._transition(
            job_id,
            JobState.CANCELLED,
            {"lease_owner": None, "lease_expires_at": None, "finished_at": now},
        )

    def requeue_expired(self, max_attempts: int) -> RequeueReport:
        """Return jobs whose lease expired to the queue, or fail them past ``max_attempts``."""
        t = self.table
        now = self._now()
        requeued: list[str] = []
        failed: list[str] = []
        expired = select(t.c.id, t.c.attempts).where(
            t.c.state == JobState.IN_PROGRESS.value, t.c.lease_expires_at < now
        )
        if not self.is_sqlite:
            expired = expired.with_for_update(skip_locked=True)
        with self._transaction() as connection:
            for row in connection.execute(expired).all():
                if row.attempts >= max_attempts:
                    check_transition(JobState.IN_PROGRESS, JobState.FAILED)
                    values: dict[str, Any] = {
                        "state": JobState.FAILED.value,
                        "error": f"Generation failed: worker lost the job {row.attempts} times",
                        "finished_at": now,
                    }
                    failed.append(row.id)
                else:
                    check_transition(JobState.IN_PROGRESS, JobState.IN_QUEUE)
                    values = {"state": JobState.IN_QUEUE.value, "step": 0}
                    requeued.append(row.id)
                connection.execute(
                    update(t)
                    .where(
                        t.c.id == row.id, t.c.state == JobState.IN_PROGRESS.value, t.c.lease_expires_at < now
                    )
                    .values(lease_owner=None, lease_expires_at=None, updated_at=now, **values)
                )
        return RequeueReport(requeued=requeued, failed=failed)

    def finished_before(self, cutoff: datetime, limit: int = 100) -> list[JobRecord]:
        """Up to ``limit`` ended jobs that finished before ``cutoff``, oldest first (retention)."""
        t = self.table
        terminal = [state.value for state in TERMINAL_STATES]
        query = (
            select(t)
            .where(t.c.state.in_(terminal), t.c.finished_at < cutoff)
            .order_by(t.c.finished_at, t.c.id)
            .limit(limit)
        )
        with self._read() as connection:
            rows = connection.execute(query).mappings().all()
        return [self._record(row) for row in rows]

    def delete_finished(self, job_id: str) -> bool:
        """Remove an ended job for good; False when it is gone already or not ended."""
        t = self.table
        terminal = [state.value for state in TERMINAL_STATES]
        with self._transaction() as connection:
            deleted = connection.execute(t.delete().where(t.c.id == job_id, t.c.state.in_(terminal))).rowcount
        return deleted == 1

    # -- helpers ---------------------------------------------------------------

    def _finish_owned(
        self, job_id: str, worker_id: str, target: JobState, values: dict[str, Any]
    ) -> JobRecord:
        now = self._now()
        return self._transition(
            job_id,
            target,
            {**values, "lease_owner": None, "lease_expires_at": None, "finished_at": now},
            owner=worker_id,
        )

    def _transition(
        self, job_id: str, target: JobState, values: dict[str, Any], *, owner: str | None = None
    ) -> JobRecord:
        """Read, check against the state machine and ownership, then compare-and-set."""
        t = self.table
        now = self._now()
        with self._transaction() as connection:
            query = select(t).where(t.c.id == job_id)
            if not self.is_sqlite:
                query = query.with_for_update()
            row = connection.execute(query).mappings().first()
            if row is None:
                raise JobNotFound(job_id)
            current = JobState(row["state"])
            check_transition(current, target)
            if owner is not None and row["lease_owner"] != owner:
                raise LeaseLost(f"job {job_id} is not held by {owner}")
            changes = {**values, "state": target.value, "updated_at": now}
            updated = connection.execute(
                update(t).where(t.c.id == job_id, t.c.state == current.value).values(**changes)
            ).rowcount
            if updated != 1:
                raise LeaseLost(f"job {job_id} changed state concurrently")
        return replace(self._record(row), **{k: self._coerce(k, v) for k, v in changes.items()})

    @staticmethod
    def _coerce(key: str, value: Any) -> Any:
        if key == "state":
            return JobState(value)
        if key.endswith("_at"):
            return _as_utc(value)
        return value

    @staticmethod
    def _record(row: RowMapping | dict[str, Any]) -> JobRecord:
        return JobRecord(
            id=row["id"],
            gen_id=row["gen_id"],
            state=JobState(row["state"]),
            spec=bytes(row["spec"] or b""),
            prompt_verdict=bytes(row["prompt_verdict"] or b""),
            image_verdict=bytes(row["image_verdict"] or b""),
            result=bytes(row["result"] or b""),
            error=row["error"] or "",
            compliance=row["compliance"] or "",
            attempts=int(row["attempts"] or 0),
            lease_owner=row["lease_owner"],
            lease_expires_at=_as_utc(row["lease_expires_at"]),
            step=int(row["step"] or 0),
            total_steps=int(row["total_steps"] or 0),
            created_at=_as_utc(row["created_at"]),  # type: ignore[arg-type]
            started_at=_as_utc(row["started_at"]),
            finished_at=_as_utc(row["finished_at"]),
            updated_at=_as_utc(row["updated_at"]),  # type: ignore[arg-type]
        )
