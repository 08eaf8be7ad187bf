"""Rate limits: the embedded token bucket, the Envoy RLS client, and the app's 429s.

The Envoy rate-limit service is played by :class:`CountingRls`, a real gRPC server
implementing ``envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`` with fixed
windows, the way envoyproxy/ratelimit answers (quota, remaining, time to reset).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc
from google.protobuf.duration_pb2 import Duration

from gateway.app import create_app
from gateway.keys import KeyStore
from gateway.main import Settings
from gateway.ratelimit.bucket import TokenBucketLimiter
from gateway.ratelimit.decision import Decision, Descriptor
from gateway.ratelimit.envoy_rls import EnvoyRateLimiter, decision_from

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class CountingRls(rls_pb2_grpc.RateLimitServiceServicer):
    """Fixed-window limits per descriptor key (e.g. ``{"api_key": 3}`` a minute)."""

    limits: dict[str, int] = field(default_factory=dict)
    hits: Counter[tuple[str, tuple[tuple[str, str], ...]]] = field(default_factory=Counter)
    requests: list[rls_pb2.RateLimitRequest] = field(default_factory=list)

    async def ShouldRateLimit(
        self, request: rls_pb2.RateLimitRequest, context: grpc.aio.ServicerContext
    ) -> rls_pb2.RateLimitResponse:
        self.requests.append(request)
        reply = rls_pb2.RateLimitResponse(overall_code=rls_pb2.RateLimitResponse.OK)
        for descriptor in request.descriptors:
            entries = tuple((e.key, e.value) for e in descriptor.entries)
            limit = self.limits.get(entries[0][0]) if entries else None
            if limit is None:
                reply.statuses.add(code=rls_pb2.RateLimitResponse.OK)
                continue
            self.hits[(request.domain, entries)] += max(1, request.hits_addend)
            used = self.hits[(request.domain, entries)]
            over = used > limit
            reply.statuses.add(
                code=rls_pb2.RateLimitResponse.OVER_LIMIT if over else rls_pb2.RateLimitResponse.OK,
                current_limit=rls_pb2.RateLimitResponse.RateLimit(
                    requests_per_unit=limit, unit=rls_pb2.RateLimitResponse.RateLimit.MINUTE
                ),
                limit_remaining=max(0, limit - used),
                duration_until_reset=Duration(seconds=42),
            )
            if over:
                reply.overall_code = rls_pb2.RateLimitResponse.OVER_LIMIT
        return reply


async def start_rls(rls: CountingRls) -> tuple[grpc.aio.Server, str]:
    """The RLS on a free loopback port."""
    server = grpc.aio.server()
    rls_pb2_grpc.add_RateLimitServiceServicer_to_server(rls, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


# ---------------------------------------------------------------- token bucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_bucket_allows_the_burst_then_refuses_with_the_wait_for_one_token() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter({"api_key": 60}, clock=clock)  # one token a second
    key = Descriptor.of("api_key", "key_a")
    decisions = [await limiter.check(key) for _ in range(60)]
    assert all(d.allowed for d in decisions)
    assert decisions[0].limit == 60 and decisions[0].remaining == 59
    assert decisions[-1].remaining == 0
    refused = await limiter.check(key)
    assert not refused.allowed and refused.retry_after_s == 1 and refused.reset_s == 60
    assert refused.headers()["Retry-After"] == "1"
    clock.now += 1.0
    assert (await limiter.check(key)).allowed
    assert (await limiter.check(Descriptor.of("api_key", "key_b"))).allowed, "buckets are per descriptor"


async def test_bucket_without_a_rule_is_unlimited_and_sends_no_quota_headers() -> None:
    limiter = TokenBucketLimiter({"api_key": 0})
    decision = await limiter.check(Descriptor.of("api_key", "x"))
    assert decision.allowed and decision.headers() == {}


async def test_decision_headers() -> None:
    decision = Decision(allowed=False, limit=10, remaining=0, reset_s=30, retry_after_s=30)
    assert decision.headers() == {
        "X-RateLimit-Limit": "10",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "30",
        "Retry-After": "30",
    }


# ---------------------------------------------------------------- Envoy RLS client


async def test_decision_from_an_over_limit_answer() -> None:
    reply = rls_pb2.RateLimitResponse(overall_code=rls_pb2.RateLimitResponse.OVER_LIMIT)
    reply.statuses.add(
        code=rls_pb2.RateLimitResponse.OVER_LIMIT,
        current_limit=rls_pb2.RateLimitResponse.RateLimit(
            requests_per_unit=5, unit=rls_pb2.RateLimitResponse.RateLimit.HOUR
        ),
        limit_remaining=0,
    )
    decision = decision_from(reply)
    assert not decision.allowed and decision.limit == 5 and decision.reset_s == 3600
    assert decision.retry_after_s == 3600


async def test_envoy_limiter_speaks_should_rate_limit(tmp_path: Path) -> None:
    rls = CountingRls(limits={"api_key": 2})
    server, addr = await start_rls(rls)
    limiter = EnvoyRateLimiter(addr, "imgen", Settings(data_dir=tmp_path), 2.0, fail_open=True)
    try:
        key = Descriptor.of("api_key", "key_1")
        first, second, third = [await limiter.check(key) for _ in range(3)]
        assert first.allowed and first.limit == 2 and first.remaining == 1 and first.reset_s == 42
        assert second.allowed and second.remaining == 0
        assert not third.allowed and third.retry_after_s == 42
        sent = rls.requests[0]
        assert sent.domain == "imgen" and sent.hits_addend == 1
        assert [(e.key, e.value) for e in sent.descriptors[0].entries] == [("api_key", "key_1")]
    finally:
        await limiter.close()
        await server.stop(None)


@pytest.mark.parametrize("fail_open", [True, False])
async def test_envoy_limiter_failure_mode_when_the_service_is_down(tmp_path: Path, fail_open: bool) -> None:
    server, addr = await start_rls(CountingRls())
    await server.stop(None)  # nothing listens there any more
    limiter = EnvoyRateLimiter(addr, "imgen", Settings(data_dir=tmp_path), 0.3, fail_open=fail_open)
    try:
        decision = await limiter.check(Descriptor.of("api_key", "k"))
    finally:
        await limiter.close()
    assert decision.allowed is fail_open
    assert decision.unavailable is (not fail_open)


# ---------------------------------------------------------------- the app


@dataclass
class LimitedApp:
    client: httpx.AsyncClient
    api_key: str
    rls: CountingRls

    async def call(self, key: str | None = None, ip: str = "") -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.api_key}"}
        # Unknown action: answered after both rate-limit checks without any upstream.
        return await self.client.post("/api/v2", json={"action": "nothing"}, headers=headers)


@pytest_asyncio.fixture(loop_scope="module")
async def limited(tmp_path: Path) -> AsyncIterator[LimitedApp]:
    rls = CountingRls(limits={"api_key": 3, "remote_address": 100})
    server, addr = await start_rls(rls)
    settings = Settings(
        data_dir=tmp_path,
        log_format="json",
        rate_limit_backend="envoy",
        rate_limit_addr=addr,
        rate_limit_domain="imgen-test",
        prompt_addr="127.0.0.1:1",
        inference_addr="127.0.0.1:1",
        compliance_addr="127.0.0.1:1",
        storage_addr="127.0.0.1:1",
    )
    store = KeyStore(settings.resolved_database_url())
    _record, api_key = store.create("rl")
    app = create_app(settings, store)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1234))
            async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
                yield LimitedApp(client, api_key, rls)
    finally:
        await server.stop(None)
        store.close()


async def test_app_answers_429_with_headers_once_the_key_is_over_its_limit(limited: LimitedApp) -> None:
    answers = [await limited.call() for _ in range(4)]
    assert [a.status_code for a in answers] == [400, 400, 400, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert answers[0].headers["X-RateLimit-Remaining"] == "2"
    assert answers[2].headers["X-RateLimit-Remaining"] == "0"
    refused = answers[3]
    assert refused.json() == {"error": "Rate limit exceeded"}
    assert refused.headers["Retry-After"] == "42"
    assert refused.headers["X-RateLimit-Reset"] == "42"
    sent = [[(e.key, e.value) for e in r.descriptors[0].entries] for r in limited.rls.requests]
    assert sent[0] == [("remote_address", "203.0.113.7")], "the address is checked before the key"
    assert sent[1][0][0] == "api_key"
    assert all(r.domain == "imgen-test" for r in limited.rls.requests)


async def test_app_limits_by_address_before_authentication(limited: LimitedApp) -> None:
    limited.rls.limits["remote_address"] = 2
    bad_key = "imgen_" + "x" * 32
    answers = [await limited.call(key=bad_key) for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert answers[2].json() == {"error": "Rate limit exceeded"}


async def test_memory_backend_is_the_default_and_limits_per_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, log_format="json", rate_limit_key_per_minute=2)
    assert settings.rate_limit_backend == "memory"
    store = KeyStore(settings.resolved_database_url())
    _record, api_key = store.create("rl")
    app = create_app(settings, store)
    headers: dict[str, Any] = {"Authorization": f"Bearer {api_key}"}
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client,
        ):
            codes = [
                (await client.post("/api/v2", json={"action": "x"}, headers=headers)).status_code
                for _ in range(3)
            ]
    finally:
        store.close()
    assert codes == [400, 400, 429]


async def test_fail_closed_answers_503_when_the_service_is_down(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        log_format="json",
        rate_limit_backend="envoy",
        rate_limit_addr="127.0.0.1:1",
        rate_limit_timeout_s=0.3,
        rate_limit_fail_open=False,
    )
    store = KeyStore(settings.resolved_database_url())
    app = create_app(settings, store)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client,
        ):
            answer = await client.post("/api/v2", json={"action": "models"})
    finally:
        store.close()
    assert answer.status_code == 503
    assert answer.json() == {"error": "Rate limit service unavailable"}
    assert answer.headers["Retry-After"] == "1"
