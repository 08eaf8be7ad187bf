"""The fast path of ``status``: finished jobs answered from the status cache, URLs kept fresh.

Unit tests drive :class:`gateway.status_cache.StatusCache` with a fake clock; the
in-process tests poll through the app (real storage service signing the URLs) and
change the scripted job behind the gateway's back to see whether it asked again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gateway.json_response import JsonResponse
from gateway.main import loop_factory
from gateway.status_cache import MAX_LIFETIME_FRACTION, StatusCache, reuse_window
from imgen.inference.v1 import inference_pb2

from .conftest import InProcessGateway
from .test_app import complete_job, generate

#: The in-process gateway lives on its module's event loop (see conftest.py).
on_module_loop = pytest.mark.asyncio(loop_scope="module")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_reuse_window_keeps_nine_tenths_of_the_url_lifetime() -> None:
    assert reuse_window(60.0, None, 0.0) == 60.0  # no URLs: only the configured window
    assert reuse_window(60.0, 3600.0, 0.0) == 60.0
    assert reuse_window(60.0, 100.0, 0.0) == pytest.approx(100.0 * MAX_LIFETIME_FRACTION)
    assert reuse_window(60.0, 50.0, 60.0) == 0.0  # already expired: never reused


def test_cache_answers_within_the_window_only() -> None:
    clock, wall = FakeClock(), FakeClock()
    cache = StatusCache(30.0, monotonic=clock, wall=wall)
    cache.put("run_a", {"status": "FAILED"})
    cache.put("run_b", {"status": "COMPLETED"}, urls_expire_at=wall.now + 100)  # window: 10 s
    assert cache.get("run_a") == {"status": "FAILED"} and cache.get("run_b") is not None
    clock.now += 10.5
    assert cache.get("run_b") is None and cache.get("run_a") is not None
    clock.now += 20
    assert cache.get("run_a") is None and len(cache) == 0
    cache.put("run_c", {"status": "COMPLETED"}, urls_expire_at=wall.now)  # nothing left to hand out
    assert cache.get("run_c") is None


def test_cache_drops_the_least_recently_polled_job_and_forgets_on_request() -> None:
    cache = StatusCache(30.0, max_entries=2)
    cache.put("run_a", {"n": 1})
    cache.put("run_b", {"n": 2})
    assert cache.get("run_a") == {"n": 1}
    cache.put("run_c", {"n": 3})
    assert cache.get("run_b") is None and cache.get("run_a") and cache.get("run_c")
    cache.forget("run_a")
    assert cache.get("run_a") is None


@pytest.fixture
def fake_clock_cache(gateway: InProcessGateway) -> Iterator[FakeClock]:
    """The app's status cache replaced by one on a fake monotonic clock (real wall clock)."""
    state = gateway.app.state.gateway
    saved, clock = state.status_cache, FakeClock()
    state.status_cache = StatusCache(gateway.settings.status_cache_s, monotonic=clock)
    try:
        yield clock
    finally:
        state.status_cache = saved


def status_body(job: dict[str, Any]) -> dict[str, Any]:
    return {"action": "status", "id": job["id"], "prompt": job["prompt"], "model": job["model"]}


@on_module_loop
async def test_finished_job_is_answered_from_the_cache_until_its_window_ends(
    gateway: InProcessGateway, fake_clock_cache: FakeClock
) -> None:
    job = await generate(gateway)
    await complete_job(gateway, job["id"])
    first = (await gateway.call(status_body(job))).json()
    gateway.inference.jobs[job["id"]].result.notes.append("changed behind the gateway's back")
    gateway.inference.fail_with = None
    second = (await gateway.call(status_body(job))).json()
    assert second == first, "a finished job within its window is not read again"

    fake_clock_cache.now += gateway.settings.status_cache_s + 1
    third = (await gateway.call(status_body(job))).json()
    assert third["meta"]["notes"][-1] == "changed behind the gateway's back"


@on_module_loop
async def test_urls_handed_out_from_the_cache_keep_most_of_their_lifetime(
    gateway: InProcessGateway, fake_clock_cache: FakeClock
) -> None:
    job = await generate(gateway)
    image, _thumb = await complete_job(gateway, job["id"])
    signed_at = time.time()
    meta = (await gateway.call(status_body(job))).json()["meta"]
    lifetime = int(parse_qs(urlsplit(meta["images"][0]["url"]).query)["expires"][0]) - signed_at
    window = reuse_window(gateway.settings.status_cache_s, signed_at + lifetime, signed_at)
    assert 0 < window <= lifetime * MAX_LIFETIME_FRACTION + 1
    fake_clock_cache.now += window - 0.01  # the last moment this answer may be reused
    again = (await gateway.call(status_body(job))).json()["meta"]
    assert again["images"] == meta["images"]
    assert (await gateway.client.get(again["images"][0]["url"])).content == image
    fake_clock_cache.now += 0.02
    fresh = (await gateway.call(status_body(job))).json()["meta"]
    assert fresh["images"][0]["filename"] == meta["images"][0]["filename"]
    assert (await gateway.client.get(fresh["images"][0]["url"])).content == image


@on_module_loop
async def test_pending_jobs_are_never_cached(gateway: InProcessGateway, fake_clock_cache: FakeClock) -> None:
    job = await generate(gateway)
    gateway.inference.jobs[job["id"]].queue_position = 2
    assert (await gateway.call(status_body(job))).json() == {"status": "IN_QUEUE", "queue_position": 2}
    record = gateway.inference.jobs[job["id"]]
    record.state, record.error = inference_pb2.JOB_STATE_FAILED, "Worker lost"
    assert (await gateway.call(status_body(job))).json() == {"status": "FAILED", "error": "Worker lost"}
    record.error = "changed later"
    assert (await gateway.call(status_body(job))).json() == {"status": "FAILED", "error": "Worker lost"}


@on_module_loop
async def test_unknown_job_stays_bad_id_and_is_not_cached(
    gateway: InProcessGateway, fake_clock_cache: FakeClock
) -> None:
    body = {"action": "status", "id": "run_" + "1" * 20}
    assert (await gateway.call(body)).status_code == 400
    assert len(gateway.app.state.gateway.status_cache) == 0


def test_json_response_is_compact_utf8_and_falls_back_for_huge_integers() -> None:
    answer = {"error": "Content blocked — flagged for: A.", "n": [1, 2.5, None, True]}
    body = JsonResponse(answer).body
    assert body == json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
    huge = {"seed": 2**70}
    assert json.loads(JsonResponse(huge).body) == huge


def test_gateway_runs_on_uvloop() -> None:
    loop = loop_factory()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()
