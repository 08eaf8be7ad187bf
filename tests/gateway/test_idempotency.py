"""``Idempotency-Key`` on ``generate``: same job on retry, 409 on a different body, expiry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway.errors import ApiError
from gateway.idempotency import ABANDONED_AFTER, IdempotencyStore, request_hash, run_once
from gateway.keys import make_engine

from .conftest import InProcessGateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

BODY = {"action": "generate", "prompt": "a red fox in snow", "seed": 7}


async def generate(
    gateway: InProcessGateway, body: dict[str, object], key: str | None, api_key: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api_key or gateway.api_key}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await gateway.client.post("/api/v2", json=body, headers=headers)


async def test_a_retry_with_the_same_key_returns_the_same_job(gateway: InProcessGateway) -> None:
    first = await generate(gateway, BODY, "retry-1")
    second = await generate(gateway, dict(reversed(list(BODY.items()))), "retry-1")  # key order is irrelevant
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(gateway.inference.submitted) == 1, "the retry must not queue a second job"


async def test_the_same_key_with_another_body_is_409(gateway: InProcessGateway) -> None:
    assert (await generate(gateway, BODY, "reuse-1")).status_code == 200
    other = await generate(gateway, {**BODY, "prompt": "a blue fox"}, "reuse-1")
    assert other.status_code == 409
    assert other.json() == {"error": "Idempotency-Key was already used with a different request"}
    assert len(gateway.inference.submitted) == 1


async def test_keys_are_scoped_to_the_api_key(gateway: InProcessGateway) -> None:
    _record, other_key = gateway.store.create("idempotency-other")
    first = await generate(gateway, BODY, "shared-name")
    second = await generate(gateway, BODY, "shared-name", api_key=other_key)
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] != second.json()["id"]


async def test_without_a_key_every_request_is_a_new_job(gateway: InProcessGateway) -> None:
    first, second = await generate(gateway, BODY, None), await generate(gateway, BODY, None)
    assert first.json()["id"] != second.json()["id"]


async def test_a_failed_request_releases_its_key(gateway: InProcessGateway) -> None:
    from services.shared.errors import Unavailable

    gateway.inference.fail_with = Unavailable("down")
    assert (await generate(gateway, BODY, "after-failure")).status_code == 502
    gateway.inference.fail_with = None
    retried = await generate(gateway, BODY, "after-failure")
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers


async def test_a_malformed_key_is_400(gateway: InProcessGateway) -> None:
    answer = await generate(gateway, BODY, "x" * 256)
    assert answer.status_code == 400 and "Idempotency-Key" in answer.json()["error"]
    assert gateway.inference.submitted == []


async def test_other_actions_ignore_the_header(gateway: InProcessGateway) -> None:
    headers = {"Authorization": f"Bearer {gateway.api_key}", "Idempotency-Key": "k"}
    answer = await gateway.client.post("/api/v2", json={"action": "random", "seed": 1}, headers=headers)
    assert answer.status_code == 200


# ---------------------------------------------------------------- the store on its own


@pytest.fixture
def store(tmp_path: Path) -> IdempotencyStore:
    return IdempotencyStore(make_engine(f"sqlite:///{tmp_path / 'idem.sqlite3'}"), ttl_s=60)


async def test_keys_expire(store: IdempotencyStore) -> None:
    now = datetime.now(UTC)
    digest = request_hash(BODY)
    assert store.reserve("key_a", "k", digest, now) is None
    store.complete("key_a", "k", {"id": "run_1"})
    replay = store.reserve("key_a", "k", digest, now + timedelta(seconds=30))
    assert replay is not None and replay.response == {"id": "run_1"}
    assert store.reserve("key_a", "k", request_hash({"other": 1}), now + timedelta(seconds=61)) is None
    assert store.purge_expired(now + timedelta(seconds=200)) == 1


async def test_a_request_in_flight_blocks_its_twin_until_abandoned(store: IdempotencyStore) -> None:
    now = datetime.now(UTC)
    digest = request_hash(BODY)
    assert store.reserve("key_a", "k", digest, now) is None
    with pytest.raises(ApiError) as caught:
        store.reserve("key_a", "k", digest, now + timedelta(seconds=1))
    assert caught.value.status == 409
    assert store.reserve("key_a", "k", digest, now + ABANDONED_AFTER + timedelta(seconds=1)) is None


async def test_concurrent_twins_run_the_call_once(store: IdempotencyStore) -> None:
    calls = 0
    release, started = asyncio.Event(), asyncio.Event()

    async def call() -> dict[str, object]:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        return {"id": "run_x"}

    first = asyncio.create_task(run_once(store, "key_a", "twin", BODY, call))
    await started.wait()  # the first one holds the reservation now
    with pytest.raises(ApiError) as caught:
        await run_once(store, "key_a", "twin", BODY, call)
    release.set()
    assert (await first) == ({"id": "run_x"}, False)
    assert caught.value.status == 409 and calls == 1
    assert await run_once(store, "key_a", "twin", BODY, call) == ({"id": "run_x"}, True)
