"""The fingerprint index: what provenance finalized, so Verify can say "this one is ours".

One row per delivered image (gen_id, job_id, watermark payload, PDQ, created_at) in a
SQL table (SQLite under the data directory by default, PostgreSQL through a SQLAlchemy
URL when several replicas must share it). Lookups run in memory: every query first pulls
the rows added since the last one (other replicas' too), so the in-memory view is never
more than one query behind the database.

- Watermark payloads are matched by Hamming distance, not equality: a payload that went
  through JPEG or a resize may come back with a bit or two flipped, and the chance that a
  stranger's 64 random-looking bits land within a few bits of one of ours is ~1e-13 per
  stored row.
- PDQ hashes go into the banded `PdqIndex` (shared with compliance), rebuilt when enough
  new rows have piled up; the newest rows are scanned directly until then.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.engine import Engine

from services.shared.pdq_index import HASH_BYTES, PdqIndex, hex_to_bytes

#: Payload bits that may differ for a decoded mark to still name a generation.
MAX_PAYLOAD_BIT_ERRORS = 4
#: Rows scanned directly before the banded index is rebuilt.
REBUILD_AFTER = 4096


@dataclass(frozen=True)
class IndexedGeneration:
    """One finalized image; mirrors the proto message of the same name."""

    gen_id: str
    job_id: str
    watermark_payload: str
    fingerprint: str
    created_at: datetime


@dataclass(frozen=True)
class PayloadMatch:
    """The generation whose payload is closest to a decoded one."""

    generation: IndexedGeneration
    bit_errors: int


@dataclass(frozen=True)
class FingerprintMatch:
    """The indexed image whose PDQ is nearest to a query's."""

    generation: IndexedGeneration
    distance: int


def sqlite_url(path: Path) -> str:
    """The embedded default database: one SQLite file."""
    return f"sqlite+pysqlite:///{path}"


def _build_table(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("gen_id", String(64), nullable=False, index=True),
        Column("job_id", String(64), nullable=False, default=""),
        Column("watermark_payload", String(16), nullable=False, default="", index=True),
        Column("fingerprint", String(64), nullable=False, default=""),
        Column("fingerprint_quality", Integer, nullable=False, default=0),
        Column("created_at_unix", BigInteger, nullable=False),
    )


def _make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    database = url.split(":///", 1)[-1]
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


class FingerprintRegistry:
    """The table plus its in-memory lookup structures; thread-safe."""

    def __init__(self, url: str, *, table_name: str = "provenance_fingerprints") -> None:
        self.engine = _make_engine(url)
        self._metadata = MetaData()
        self.table = _build_table(self._metadata, table_name)
        self._metadata.create_all(self.engine)
        self._lock = threading.Lock()
        self._last_id = 0
        self._rows: list[IndexedGeneration] = []
        self._payloads = np.empty(0, dtype=np.uint64)  # one per row; 0 where none
        self._has_payload = np.empty(0, dtype=bool)
        self._pdq_rows: list[int] = []  # row numbers of rows with a fingerprint, PDQ insertion order
        self._pdq_bytes = np.empty((0, HASH_BYTES), dtype=np.uint8)
        self._index = PdqIndex(self._pdq_bytes)

    def close(self) -> None:
        self.engine.dispose()

    def record(
        self,
        gen_id: str,
        job_id: str,
        watermark_payload: str,
        fingerprint: str,
        fingerprint_quality: int,
        created_at: datetime | None = None,
    ) -> None:
        """Add one finalized image."""
        moment = created_at or datetime.now(UTC)
        with self.engine.begin() as connection:
            connection.execute(
                insert(self.table).values(
                    gen_id=gen_id,
                    job_id=job_id,
                    watermark_payload=watermark_payload,
                    fingerprint=fingerprint,
                    fingerprint_quality=fingerprint_quality,
                    created_at_unix=int(moment.timestamp()),
                )
            )

    def __len__(self) -> int:
        with self._lock:
            self._refresh()
            return len(self._rows)

    def match_payload(
        self, payload: bytes, max_bit_errors: int = MAX_PAYLOAD_BIT_ERRORS
    ) -> PayloadMatch | None:
        """The generation whose payload is within ``max_bit_errors`` of ``payload`` (the nearest)."""
        query = np.frombuffer(payload, dtype=">u8").astype(np.uint64)[0]
        with self._lock:
            self._refresh()
            if not self._has_payload.any():
                return None
            errors = np.bitwise_count(self._payloads ^ query).astype(np.int64)
            errors[~self._has_payload] = 65
            best = int(np.argmin(errors))
            if errors[best] > max_bit_errors:
                return None
            return PayloadMatch(self._rows[best], int(errors[best]))

    def nearest(self, fingerprint: str, max_distance: int) -> FingerprintMatch | None:
        """The indexed image whose PDQ is nearest to ``fingerprint`` within ``max_distance`` bits."""
        query = hex_to_bytes([fingerprint])[0]
        with self._lock:
            self._refresh()
            best: tuple[int, int] | None = None  # (distance, pdq row)
            found = self._index.search(query, max_distance)
            if found:
                best = (found[0].distance, found[0].row)
            recent = np.arange(self._index.size, len(self._pdq_rows))
            if recent.size:
                distances = np.bitwise_count(self._pdq_bytes[recent] ^ query).sum(axis=1)
                nearest = int(np.argmin(distances))
                if distances[nearest] <= max_distance and (best is None or distances[nearest] < best[0]):
                    best = (int(distances[nearest]), int(recent[nearest]))
            if best is None:
                return None
            return FingerprintMatch(self._rows[self._pdq_rows[best[1]]], best[0])

    def _refresh(self) -> None:
        """Pull rows added since the last refresh (by any replica); caller holds the lock."""
        table = self.table
        with self.engine.connect() as connection:
            fresh = (
                connection.execute(select(table).where(table.c.id > self._last_id).order_by(table.c.id))
                .mappings()
                .all()
            )
        if not fresh:
            return
        payloads, has_payload, hashes = [], [], []
        for row in fresh:
            generation = IndexedGeneration(
                gen_id=row["gen_id"],
                job_id=row["job_id"],
                watermark_payload=row["watermark_payload"],
                fingerprint=row["fingerprint"],
                created_at=datetime.fromtimestamp(row["created_at_unix"], UTC),
            )
            number = len(self._rows)
            self._rows.append(generation)
            valid_payload = len(generation.watermark_payload) == 16
            payloads.append(int(generation.watermark_payload, 16) if valid_payload else 0)
            has_payload.append(valid_payload)
            if len(generation.fingerprint) == HASH_BYTES * 2:
                self._pdq_rows.append(number)
                hashes.append(generation.fingerprint)
            self._last_id = row["id"]
        self._payloads = np.concatenate([self._payloads, np.array(payloads, dtype=np.uint64)])
        self._has_payload = np.concatenate([self._has_payload, np.array(has_payload, dtype=bool)])
        if hashes:
            self._pdq_bytes = np.concatenate([self._pdq_bytes, hex_to_bytes(hashes)])
        if len(self._pdq_rows) - self._index.size > REBUILD_AFTER:
            self._index = PdqIndex(self._pdq_bytes)
