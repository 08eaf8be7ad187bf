"""The API key store: lifecycle, hashing at rest, atomic usage counts, the async authenticator."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.auth import KeyAuthenticator, bearer_token
from gateway.keys import KeyStore, Usage, default_database_url, hash_key, looks_like_key


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.sqlite3"


@pytest.fixture
def store(db_path: Path) -> KeyStore:
    key_store = KeyStore(f"sqlite:///{db_path}")
    yield key_store
    key_store.close()


def test_created_key_has_the_documented_shape(store: KeyStore) -> None:
    record, plaintext = store.create("ci")
    assert plaintext.startswith("imgen_") and len(plaintext) == 6 + 32
    assert looks_like_key(plaintext)
    assert record.name == "ci" and record.enabled and record.request_count == 0
    assert plaintext.startswith(record.prefix) and len(record.prefix) < len(plaintext)
    assert store.create("other")[1] != plaintext


def test_verify_accepts_the_key_and_refuses_others(store: KeyStore) -> None:
    record, plaintext = store.create("ci")
    assert store.verify(plaintext) == record
    assert store.verify(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")) is None
    assert store.verify("") is None
    assert store.verify("Bearer " + plaintext) is None


def test_plaintext_never_reaches_the_database(store: KeyStore, db_path: Path) -> None:
    _record, plaintext = store.create("secret-holder")
    store.record_usage({_record.id: Usage(3, datetime.now(UTC))})
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob("gateway.sqlite3*"))
    assert plaintext.encode() not in raw
    assert plaintext[len("imgen_") :].encode() not in raw
    with sqlite3.connect(db_path) as conn:
        (stored_hash,) = conn.execute("SELECT key_hash FROM api_keys").fetchone()
    assert stored_hash == hash_key(plaintext)


def test_disable_enable_delete(store: KeyStore) -> None:
    record, plaintext = store.create("ci")
    assert store.disable(record.id) is not None
    assert store.verify(plaintext) is None
    assert store.enable(record.prefix) is not None  # by prefix, as the CLI allows
    assert store.verify(plaintext) is not None
    assert store.delete(record.id) is True
    assert store.verify(plaintext) is None
    assert store.delete(record.id) is False
    assert store.disable("key_missing") is None


def test_list_is_oldest_first(store: KeyStore) -> None:
    names = ["a", "b", "c"]
    for name in names:
        store.create(name)
    assert [r.name for r in store.list()] == names


def test_blank_name_is_refused(store: KeyStore) -> None:
    with pytest.raises(ValueError):
        store.create("  ")


def test_concurrent_increments_from_two_stores_lose_none(store: KeyStore, db_path: Path) -> None:
    record, _plaintext = store.create("busy")
    other = KeyStore(f"sqlite:///{db_path}")  # a second "replica" with its own engine
    rounds, per_round = 40, 7

    def flush_many(target: KeyStore) -> None:
        for _ in range(rounds):
            target.record_usage({record.id: Usage(per_round, datetime.now(UTC))})

    threads = [threading.Thread(target=flush_many, args=(s,)) for s in (store, other, store, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.close()
    final = store.get(record.id)
    assert final is not None
    assert final.request_count == 4 * rounds * per_round
    assert final.last_used_at is not None


def test_default_database_url_lives_in_the_data_dir(tmp_path: Path) -> None:
    assert default_database_url(tmp_path) == f"sqlite:///{tmp_path / 'gateway.sqlite3'}"


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("", None),
        (None, None),
        ("abc", None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


async def test_authenticator_counts_in_memory_and_flushes_in_batches(store: KeyStore) -> None:
    record, plaintext = store.create("ci")
    auth = KeyAuthenticator(store, cache_ttl_s=60, flush_interval_s=0.05)
    results = await asyncio.gather(*(auth.authenticate(f"Bearer {plaintext}") for _ in range(25)))
    assert all(r is not None and r.id == record.id for r in results)
    assert store.get(record.id).request_count == 0  # nothing written per request
    flusher = asyncio.create_task(auth.run_flusher())
    for _ in range(100):
        await asyncio.sleep(0.02)
        if store.get(record.id).request_count == 25:
            break
    await auth.authenticate(f"Bearer {plaintext}")
    flusher.cancel()
    await asyncio.gather(flusher, return_exceptions=True)
    assert store.get(record.id).request_count == 26  # the last one flushed on shutdown


async def test_authenticator_refuses_a_disabled_key_after_the_ttl(store: KeyStore) -> None:
    record, plaintext = store.create("ci")
    auth = KeyAuthenticator(store, cache_ttl_s=0.2)
    assert await auth.authenticate(f"Bearer {plaintext}") is not None
    store.disable(record.id)
    await asyncio.sleep(0.25)
    assert await auth.authenticate(f"Bearer {plaintext}") is None
    assert await auth.authenticate(None) is None
    assert await auth.authenticate("Bearer nonsense") is None


async def test_failed_flush_keeps_the_counts_for_the_next_round(store: KeyStore) -> None:
    record, plaintext = store.create("ci")
    auth = KeyAuthenticator(store, cache_ttl_s=60)
    for _ in range(3):
        await auth.authenticate(f"Bearer {plaintext}")
    real_record_usage = store.record_usage

    def broken(_usage: object) -> None:
        raise RuntimeError("database unreachable")

    store.record_usage = broken  # type: ignore[method-assign]
    await auth.flush()
    store.record_usage = real_record_usage  # type: ignore[method-assign]
    assert store.get(record.id).request_count == 0
    await auth.flush()
    assert store.get(record.id).request_count == 3
