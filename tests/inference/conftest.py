"""Fixtures shared by the inference tests: job stores on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.inference.jobs.store import JobStore, sqlite_url

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class FakeClock:
    """A clock tests move by hand so lease expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=2):
            return True
    except Exception:
        return False


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[JobStore]:
    """A fresh job store per test; on PostgreSQL a uniquely prefixed table, dropped afterwards."""
    if request.param == "sqlite":
        job_store = JobStore(sqlite_url(tmp_path / "jobs.sqlite3"), clock=clock)
    else:
        if not _postgres_available():
            pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
        job_store = JobStore(POSTGRES_URL, table_prefix=f"t{secrets.token_hex(6)}_", clock=clock)
    job_store.create_schema()
    try:
        yield job_store
    finally:
        if not job_store.is_sqlite:
            job_store.drop_schema()
        job_store.close()
