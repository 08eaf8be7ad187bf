"""Completion webhooks: signed delivery to a local receiver, retries, filter, URL policy, restart.

The receiver is a real HTTP server on loopback, allowed through ``webhook_allowed_hosts``
the way an operator would allow an internal endpoint. Tests drive the dispatcher's rounds
themselves (``tick()``) so nothing waits on the clock.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
import uvicorn
from sqlalchemy import create_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.webhooks.dispatcher import RetryPolicy, WebhookDispatcher
from gateway.webhooks.registry import Webhooks
from gateway.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify
from gateway.webhooks.store import DELIVERED, FAILED, PENDING, SKIPPED, DeliveryStore
from gateway.webhooks.targets import AllowList, TargetRefused, is_public, resolve
from imgen.inference.v1 import inference_pb2

from .conftest import InProcessGateway

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Receiver:
    """A webhook endpoint that records what it got and answers ``codes`` in turn (then 200)."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)

    async def endpoint(self, request: Request) -> Response:
        self.received.append((dict(request.headers), await request.body()))
        return Response(status_code=self.codes.pop(0) if self.codes else 200)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    target = Receiver()
    app = Starlette(routes=[Route("/hook", target.endpoint, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    target.url = f"http://127.0.0.1:{port}/hook"
    yield target
    server.should_exit = True
    await task


@pytest.fixture
def hooks(gateway: InProcessGateway, receiver: Receiver) -> Iterator[WebhookDispatcher]:
    """The gateway with loopback allowed for webhooks, and its dispatcher, retries without waiting."""
    state = gateway.app.state.gateway
    dispatcher: WebhookDispatcher = state.dispatcher
    saved = (state.webhooks, dispatcher.allow, dispatcher.retry)
    allow = AllowList.parse(["127.0.0.1/32"])
    state.webhooks = Webhooks(state.webhooks.store, allow)
    dispatcher.allow = allow
    dispatcher.retry = RetryPolicy(max_attempts=3, backoff_s=0.0, max_backoff_s=0.0)
    receiver.received.clear()
    receiver.codes.clear()
    yield dispatcher
    state.webhooks, dispatcher.allow, dispatcher.retry = saved


def store_of(gateway: InProcessGateway) -> DeliveryStore:
    return gateway.app.state.gateway.webhooks.store


async def submit(gateway: InProcessGateway, **extra: object) -> str:
    answer = await gateway.call({"action": "generate", "prompt": "a lighthouse at dusk", **extra})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def end_job(gateway: InProcessGateway, job_id: str, state: int, error: str = "") -> None:
    job = gateway.inference.jobs[job_id]
    job.state = state
    job.error = error
    job.finished_at = "2026-11-23T19:05:00Z"


async def settle(dispatcher: WebhookDispatcher, store: DeliveryStore, job_id: str, states: set[str]) -> str:
    """Run dispatcher rounds until the job's delivery reaches one of ``states``."""
    for _ in range(200):
        await dispatcher.tick()
        [delivery] = store.for_job(job_id)
        if delivery.state in states:
            return delivery.state
        await asyncio.sleep(0.01)  # a background round may hold the lease
    raise AssertionError(f"delivery stuck in {delivery.state}")


async def test_a_failed_job_is_posted_signed_to_the_webhook(
    gateway: InProcessGateway, receiver: Receiver, hooks: WebhookDispatcher
) -> None:
    job_id = await submit(gateway, webhook=receiver.url)
    await hooks.tick()
    assert receiver.received == [], "nothing is sent while the job runs"
    end_job(gateway, job_id, inference_pb2.JOB_STATE_FAILED, "Generation failed")
    assert await settle(hooks, store_of(gateway), job_id, {DELIVERED}) == DELIVERED
    [(headers, body)] = receiver.received
    assert verify(hooks.secret, headers[SIGNATURE_HEADER.lower()], headers[TIMESTAMP_HEADER.lower()], body)
    assert headers["x-imgen-event"] == "job.failed"
    payload = json.loads(body)
    assert payload["event"] == "job.failed" and payload["job_id"] == job_id
    assert payload["data"] == {"status": "FAILED", "error": "Generation failed"}
    assert not verify(
        hooks.secret, headers[SIGNATURE_HEADER.lower()], headers[TIMESTAMP_HEADER.lower()], body + b" "
    )


async def test_a_refused_delivery_is_retried_until_accepted(
    gateway: InProcessGateway, receiver: Receiver, hooks: WebhookDispatcher
) -> None:
    receiver.codes = [500, 503]
    job_id = await submit(gateway, webhook=receiver.url)
    end_job(gateway, job_id, inference_pb2.JOB_STATE_CANCELLED)
    assert await settle(hooks, store_of(gateway), job_id, {DELIVERED, FAILED}) == DELIVERED
    [delivery] = store_of(gateway).for_job(job_id)
    assert delivery.attempts == 3 and len(receiver.received) == 3
    ids = {headers["x-imgen-delivery"] for headers, _ in receiver.received}
    assert ids == {delivery.id}, "retries carry the same delivery id so receivers can deduplicate"


async def test_delivery_gives_up_after_the_last_attempt(
    gateway: InProcessGateway, receiver: Receiver, hooks: WebhookDispatcher
) -> None:
    receiver.codes = [500, 500, 500]
    job_id = await submit(gateway, webhook=receiver.url)
    end_job(gateway, job_id, inference_pb2.JOB_STATE_TIMED_OUT)
    assert await settle(hooks, store_of(gateway), job_id, {DELIVERED, FAILED}) == FAILED
    [delivery] = store_of(gateway).for_job(job_id)
    assert delivery.attempts == 3 and delivery.last_status == 500


async def test_the_event_filter_skips_unsubscribed_events(
    gateway: InProcessGateway, receiver: Receiver, hooks: WebhookDispatcher
) -> None:
    job_id = await submit(gateway, webhook=receiver.url, webhook_events=["job.completed"])
    end_job(gateway, job_id, inference_pb2.JOB_STATE_FAILED)
    assert await settle(hooks, store_of(gateway), job_id, {SKIPPED, DELIVERED}) == SKIPPED
    assert receiver.received == []


async def test_a_blocked_prompt_reports_completed_with_the_blocked_answer(
    gateway: InProcessGateway, receiver: Receiver, hooks: WebhookDispatcher
) -> None:
    from imgen.compliance.v1 import compliance_pb2

    gateway.compliance.blocked_terms["lighthouse"] = compliance_pb2.Category(id="c1", name="Test")
    job_id = await submit(gateway, webhook=receiver.url)
    assert await settle(hooks, store_of(gateway), job_id, {DELIVERED}) == DELIVERED
    payload = json.loads(receiver.received[0][1])
    assert payload["event"] == "job.completed" and payload["data"]["compliance"] == "unsafe"


async def test_pending_deliveries_survive_a_restart(
    gateway: InProcessGateway, receiver: Receiver, hooks: WebhookDispatcher
) -> None:
    """A new dispatcher over the same database delivers what the old one left pending."""
    receiver.codes = [500]
    hooks.retry = RetryPolicy(max_attempts=3, backoff_s=3600.0, max_backoff_s=3600.0)
    job_id = await submit(gateway, webhook=receiver.url)
    end_job(gateway, job_id, inference_pb2.JOB_STATE_FAILED)
    await settle(hooks, store_of(gateway), job_id, {PENDING})
    [pending] = store_of(gateway).for_job(job_id)
    # the hour of backoff passes while the gateway is down
    store_of(gateway).retry_at(pending.id, pending.attempts, datetime.now(UTC), 500, "receiver answered 500")
    restarted = WebhookDispatcher(
        store=DeliveryStore(store_of(gateway).engine),
        upstreams=lambda: gateway.app.state.gateway.upstreams,
        secret=hooks.secret,
        allow=hooks.allow,
        retry=hooks.retry,
        poll_interval_s=1.0,
        timeout_s=5.0,
        presign_urls=hooks.presign_urls,
    )
    assert await settle(restarted, restarted.store, job_id, {DELIVERED}) == DELIVERED
    await restarted.client.aclose()
    assert len(receiver.received) == 2, "one failed attempt before the restart, one after"


# ---------------------------------------------------------------- validation and URL policy


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"webhook": "ftp://example.com/x"}, "webhook must be an http or https URL"),
        ({"webhook": 5}, "webhook must be an http or https URL"),
        ({"webhook": "https://user:pw@example.com/"}, "webhook must not contain credentials"),
        ({"webhook": "https://example.com/", "webhook_events": ["job.exploded"]}, "Unknown webhook event"),
        ({"webhook": "http://127.0.0.1:9/hook"}, "webhook is not allowed"),
        ({"webhook": "http://169.254.169.254/latest/meta-data"}, "webhook is not allowed"),
        ({"webhook": "http://[::1]/x"}, "webhook is not allowed"),
        ({"webhook": "http://10.1.2.3/x"}, "webhook is not allowed"),
    ],
)
async def test_bad_or_internal_webhooks_are_refused_before_queueing(
    gateway: InProcessGateway, extra: dict[str, object], message: str
) -> None:
    answer = await gateway.call({"action": "generate", "prompt": "a cat", **extra})
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(message)
    assert gateway.inference.submitted == []


async def test_resolution_pins_the_checked_address() -> None:
    target = await resolve("http://127.0.0.1:8080/a?b=1", AllowList.parse(["127.0.0.0/8"]))
    assert target.url == "http://127.0.0.1:8080/a?b=1" and target.host_header == "127.0.0.1:8080"
    with pytest.raises(TargetRefused):
        await resolve("http://localhost/x", AllowList.parse([]))
    allowed = await resolve("http://localhost/x", AllowList.parse(["localhost"]))
    assert allowed.host_header == "localhost"


async def test_public_address_classification() -> None:
    for text in (
        "10.0.0.1",
        "192.168.1.1",
        "172.16.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fc00::1",
        "0.0.0.0",
        "100.64.0.1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ):
        assert not is_public(ipaddress.ip_address(text)), text
    for text in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"):
        assert is_public(ipaddress.ip_address(text)), text


async def test_signature_covers_timestamp_and_body() -> None:
    secret = b"whsec_test"
    now = int(datetime.now(UTC).timestamp())
    signature = sign(secret, now, b'{"a":1}')
    assert signature.startswith("v1=")
    assert verify(secret, signature, str(now), b'{"a":1}', now=now)
    assert not verify(secret, signature, str(now + 1), b'{"a":1}', now=now)
    assert not verify(secret, signature, str(now), b'{"a":1}', now=now + 301), "stale payloads are refused"
    assert not verify(b"other", signature, str(now), b'{"a":1}', now=now)


async def test_a_webhook_that_cannot_be_stored_withdraws_its_job(
    gateway: InProcessGateway, receiver: Receiver, hooks: WebhookDispatcher, tmp_path: Path
) -> None:
    """The delivery database fails after the job was queued: the client gets a retryable 503 and
    the job is cancelled, so a retry does not leave a first job running with no webhook."""
    state = gateway.app.state.gateway
    broken = DeliveryStore(create_engine(f"sqlite:///{tmp_path / 'deliveries.sqlite3'}"))
    broken.engine = create_engine(f"sqlite:///{tmp_path / 'gone' / 'deliveries.sqlite3'}")
    state.webhooks = Webhooks(broken, state.webhooks.allow)
    answer = await gateway.call(
        {"action": "generate", "prompt": "a lighthouse at dusk", "webhook": receiver.url}
    )
    assert answer.status_code == 503, answer.text
    assert "database unreachable" in answer.json()["error"]
    [job] = [j for j in gateway.inference.jobs.values() if j.spec == gateway.inference.submitted[-1].spec]
    assert job.state == inference_pb2.JOB_STATE_CANCELLED
