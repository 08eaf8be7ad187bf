"""Alembic migrations of the job store on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from services.inference import migrate
from services.inference.jobs.store import JobStore, sqlite_url
from tests.inference.conftest import POSTGRES_URL, _postgres_available


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[JobStore, str]]:
    """A store over an empty database (PostgreSQL: a unique prefix, its tables dropped after)."""
    if request.param == "sqlite":
        prefix = ""
        store = JobStore(sqlite_url(tmp_path / "jobs.sqlite3"))
    else:
        if not _postgres_available():
            pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
        prefix = f"m{secrets.token_hex(6)}_"
        store = JobStore(POSTGRES_URL, table_prefix=prefix)
    try:
        yield store, prefix
    finally:
        if not store.is_sqlite:
            with store.engine.begin() as connection:
                connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{prefix}jobs", "{prefix}alembic_version"')
        store.close()


def _schema_diff(store: JobStore) -> list[object]:
    """Differences between the database and the store's metadata, for this store's table only."""
    table = store.table.name

    def ours(name: str | None, kind: str, _parent: object) -> bool:
        return kind != "table" or name == table

    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": ours})
        return compare_metadata(context, store.metadata)


def test_upgrade_empty_database_to_the_store_schema(empty_store: tuple[JobStore, str]) -> None:
    store, prefix = empty_store
    assert migrate.current_revision(store, prefix) is None
    assert migrate.upgrade(store, prefix) == migrate.head_revision()
    assert _schema_diff(store) == []
    job = store.submit(b"spec")
    assert store.claim_next("w1", 30).id == job.id  # type: ignore[union-attr]


def test_upgrade_is_idempotent(empty_store: tuple[JobStore, str]) -> None:
    store, prefix = empty_store
    migrate.upgrade(store, prefix)
    job = store.submit(b"spec")
    assert migrate.upgrade(store, prefix) == migrate.head_revision()
    assert store.get(job.id).spec == b"spec"
    assert _schema_diff(store) == []


def test_pre_migration_table_is_stamped_and_upgraded(empty_store: tuple[JobStore, str]) -> None:
    store, prefix = empty_store
    migrate.upgrade(store, prefix, migrate.INITIAL_REVISION)
    with store.engine.begin() as connection:
        connection.exec_driver_sql(f'DROP TABLE "{prefix}alembic_version"')
    job = store.submit(b"old job")
    assert migrate.upgrade(store, prefix) == migrate.head_revision()
    assert store.get(job.id).spec == b"old job"
    assert _schema_diff(store) == []


def test_tables_of_other_prefixes_are_left_alone(empty_store: tuple[JobStore, str]) -> None:
    store, prefix = empty_store
    migrate.upgrade(store, prefix)
    tables = set(inspect(store.engine).get_table_names())
    assert {f"{prefix}jobs", f"{prefix}alembic_version"} <= tables


def test_cli_upgrades_the_named_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = sqlite_url(tmp_path / "cli.sqlite3")
    assert migrate.main(["--database-url", url]) == 0
    assert migrate.main(["--database-url", url]) == 0
    assert f"at revision {migrate.head_revision()}" in capsys.readouterr().out
    store = JobStore(url)
    try:
        assert _schema_diff(store) == []
    finally:
        store.close()
