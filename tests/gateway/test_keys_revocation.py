"""Revocation reaches every replica: two gateway apps on one database, expiry, rotation, daily usage."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.auth import KeyAuthenticator
from gateway.keys import KeyStore, Usage
from gateway.main import Settings

BAD_ID_BODY = {"action": "status", "id": "not-a-job"}  # authenticated, then 400 without any upstream


def replica_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "port": 0,
        "data_dir": tmp_path,
        "log_format": "json",
        "prompt_addr": "127.0.0.1:1",
        "inference_addr": "127.0.0.1:1",
        "compliance_addr": "127.0.0.1:1",
        "storage_addr": "127.0.0.1:1",
        "provenance_addr": "127.0.0.1:1",
        "key_cache_ttl_s": 3600.0,  # only the revision row may end a cached verification here
        "key_revision_check_s": 0.0,
        "usage_flush_interval_s": 3600.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def replica(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """One gateway app with its own store (own engine, own cache) on the shared database."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://replica.test") as client:
            yield client


async def status_of(client: httpx.AsyncClient, key: str) -> int:
    response = await client.post("/api/v2", json=BAD_ID_BODY, headers={"Authorization": f"Bearer {key}"})
    return response.status_code


async def test_disable_rotate_delete_are_refused_at_once_on_both_replicas(tmp_path: Path) -> None:
    settings = replica_settings(tmp_path)
    admin = KeyStore(settings.resolved_database_url())
    record, key = admin.create("shared")
    async with replica(settings) as a, replica(settings) as b:
        assert await status_of(a, key) == 400 and await status_of(b, key) == 400  # both cached it
        admin.disable(record.id)
        assert await status_of(a, key) == 401 and await status_of(b, key) == 401
        admin.enable(record.id)
        assert await status_of(a, key) == 400 and await status_of(b, key) == 400
        rotated = admin.rotate(record.prefix)
        assert rotated is not None
        same, new_key = rotated
        assert same.id == record.id and same.name == "shared" and new_key != key
        assert await status_of(a, key) == 401 and await status_of(b, key) == 401
        assert await status_of(a, new_key) == 400 and await status_of(b, new_key) == 400
        admin.delete(record.id)
        assert await status_of(a, new_key) == 401 and await status_of(b, new_key) == 401
    admin.close()


async def test_revision_is_read_once_per_interval_by_concurrent_requests(tmp_path: Path) -> None:
    store = KeyStore(f"sqlite:///{tmp_path / 'keys.sqlite3'}")
    _record, key = store.create("busy")
    reads = 0
    real_revision = store.revision

    def counting_revision() -> int:
        nonlocal reads
        reads += 1
        return real_revision()

    store.revision = counting_revision  # type: ignore[method-assign]
    auth = KeyAuthenticator(store, cache_ttl_s=3600, revision_check_s=3600)
    results = await asyncio.gather(*(auth.authenticate(f"Bearer {key}") for _ in range(50)))
    assert all(r is not None for r in results)
    assert reads == 1
    store.close()


async def test_expired_keys_are_refused_even_from_the_cache(tmp_path: Path) -> None:
    store = KeyStore(f"sqlite:///{tmp_path / 'keys.sqlite3'}")
    past = datetime.now(UTC) - timedelta(seconds=1)
    old, old_key = store.create("old", expires_at=past)
    assert store.verify(old_key) is None and old.status() == "expired"
    soon = datetime.now(UTC) + timedelta(hours=1)
    record, key = store.create("soon", expires_at=soon, rate_limit_per_minute=30)
    assert record.rate_limit_per_minute == 30 and record.expired(soon - timedelta(seconds=1)) is False
    assert record.expired(soon) is True
    auth = KeyAuthenticator(store, cache_ttl_s=3600, revision_check_s=3600)
    assert await auth.authenticate(f"Bearer {key}") is not None
    store.update_limits(record.id, expires_at=past, rate_limit_per_minute=None)
    auth.invalidate()  # what the replica making the change does
    assert await auth.authenticate(f"Bearer {key}") is None
    with pytest.raises(ValueError):
        store.create("bad", rate_limit_per_minute=0)
    store.close()


async def test_daily_usage_is_counted_per_key_and_day_by_the_buffered_flush(tmp_path: Path) -> None:
    store = KeyStore(f"sqlite:///{tmp_path / 'keys.sqlite3'}")
    record, key = store.create("daily")
    auth = KeyAuthenticator(store, cache_ttl_s=3600)
    await asyncio.gather(*(auth.authenticate(f"Bearer {key}") for _ in range(7)))
    assert store.daily_usage(date(2000, 1, 1)) == []  # nothing written on the request path
    await auth.flush()
    yesterday = datetime.now(UTC) - timedelta(days=1)
    store.record_usage({record.id: Usage(3, yesterday)})
    store.record_usage({record.id: Usage(2, yesterday)})
    rows = {row.day: row.request_count for row in store.daily_usage(yesterday.date())}
    assert rows == {yesterday.date(): 5, datetime.now(UTC).date(): 7}
    assert store.get(record.id).request_count == 12
    store.close()


def test_an_old_database_gets_the_new_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE api_keys (id VARCHAR(32) PRIMARY KEY, name VARCHAR(200) NOT NULL, "
            "prefix VARCHAR(32) NOT NULL, key_hash VARCHAR(64) NOT NULL UNIQUE, enabled BOOLEAN NOT NULL, "
            "created_at DATETIME NOT NULL, last_used_at DATETIME, request_count INTEGER NOT NULL)"
        )
    store = KeyStore(f"sqlite:///{path}")
    record, key = store.create("after-upgrade", rate_limit_per_minute=5)
    assert store.verify(key) == record and store.revision() == 0
    store.disable(record.id)
    assert store.revision() == 1
    store.close()
