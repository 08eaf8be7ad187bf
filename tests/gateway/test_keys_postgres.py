"""The key store on PostgreSQL (what deployments use): same behaviour, concurrent flushes lose nothing.

Each test works in its own schema of the machine's PostgreSQL and drops it afterwards;
without a reachable server the tests are skipped.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from gateway.keys import KeyStore, Usage

PG_DSN = os.environ.get("IMGEN_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_DSN, connect_timeout=2, autocommit=True)
    except psycopg.OperationalError:
        pytest.skip("no PostgreSQL reachable")
    schema = "gw_keys_" + secrets.token_hex(4)
    admin.execute(f"CREATE SCHEMA {schema}")
    params = dict(part.split("=", 1) for part in PG_DSN.split())
    url = (
        f"postgresql+psycopg://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
        f"{params.get('port', '5432')}/{params.get('dbname', 'test')}?options=-csearch_path%3D{schema}"
    )
    try:
        yield url
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def test_lifecycle_on_postgres(pg_url: str) -> None:
    store = KeyStore(pg_url)
    try:
        record, plaintext = store.create("pg")
        assert store.verify(plaintext) == record
        store.disable(record.id)
        assert store.verify(plaintext) is None
        assert store.delete(record.prefix)
        assert store.list() == []
    finally:
        store.close()


def test_concurrent_flushes_from_replicas_lose_none(pg_url: str) -> None:
    stores = [KeyStore(pg_url) for _ in range(3)]
    record, _plaintext = stores[0].create("busy")
    rounds, per_round = 30, 3

    def flush_many(store: KeyStore) -> None:
        for _ in range(rounds):
            store.record_usage({record.id: Usage(per_round, datetime.now(UTC))})

    threads = [threading.Thread(target=flush_many, args=(s,)) for s in stores for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = stores[0].get(record.id)
    for store in stores:
        store.close()
    assert final is not None and final.request_count == len(threads) * rounds * per_round
