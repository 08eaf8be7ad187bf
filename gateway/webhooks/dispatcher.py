"""The webhook dispatcher: a task in the gateway process that reports ended jobs.

Each round it (1) looks at watched jobs through the inference service and turns those that
ended into pending deliveries carrying the ``status`` answer as payload, then (2) POSTs due
deliveries, signed, with exponential backoff on failure. All state is in
:class:`~gateway.webhooks.store.DeliveryStore`, so a restart resumes where it stopped.
Redirects are not followed: a redirect could lead to an address the policy refuses.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import grpc
import httpx

from gateway.job_view import job_view, needs_urls
from gateway.upstream import Upstreams
from gateway.webhooks.events import event_for
from gateway.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from gateway.webhooks.store import PENDING, WATCHING, Delivery, DeliveryStore
from gateway.webhooks.targets import AllowList, TargetRefused, resolve
from imgen.inference.v1 import inference_pb2
from services.shared.logging import get_logger

log = get_logger(__name__)

USER_AGENT = "imgen-webhooks/1"
BATCH = 50


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts, and the exponential wait between them."""

    max_attempts: int = 8
    backoff_s: float = 2.0
    max_backoff_s: float = 3600.0

    def delay_after(self, attempts: int) -> float:
        """Wait after the ``attempts``-th failure: backoff, 2×backoff, 4×backoff, ... capped."""
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** max(0, attempts - 1)))


def payload_for(delivery: Delivery, event: str, view: dict[str, Any]) -> str:
    """The JSON body sent for ``delivery``: the event and the job's ``status`` answer."""
    return json.dumps(
        {
            "id": delivery.id,
            "event": event,
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "job_id": delivery.job_id,
            "data": view,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


class WebhookDispatcher:
    """Watches jobs submitted with a webhook and delivers their terminal event."""

    def __init__(
        self,
        store: DeliveryStore,
        upstreams: Callable[[], Upstreams | None],
        secret: bytes,
        allow: AllowList,
        retry: RetryPolicy,
        poll_interval_s: float,
        timeout_s: float,
        presign_urls: Callable[[Upstreams, inference_pb2.Job], Any],
    ) -> None:
        self.store = store
        self.upstreams = upstreams
        self.secret = secret
        self.allow = allow
        self.retry = retry
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self.presign_urls = presign_urls
        self.lease_s = max(60.0, timeout_s * 3)
        self.client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, trust_env=False)

    async def run(self) -> None:
        """Rounds every ``poll_interval_s`` until cancelled; one bad round never stops it."""
        try:
            while True:
                try:
                    await self.tick()
                except Exception:
                    log.exception("webhook round failed; retrying next round")
                await asyncio.sleep(self.poll_interval_s)
        finally:
            await self.client.aclose()

    async def tick(self) -> None:
        """One round: look at watched jobs, then send what is due."""
        watched = await anyio.to_thread.run_sync(self.store.claim, WATCHING, BATCH, self.lease_s)
        await asyncio.gather(*(self._check_job(item) for item in watched))
        due = await anyio.to_thread.run_sync(self.store.claim, PENDING, BATCH, self.lease_s)
        await asyncio.gather(*(self.deliver(item) for item in due))

    async def _check_job(self, delivery: Delivery) -> None:
        upstreams = self.upstreams()
        if upstreams is None:
            return
        try:
            reply = await upstreams.inference.GetJob(inference_pb2.GetJobRequest(id=delivery.job_id))
            job = reply.job
            view = job_view(job, await self.presign_urls(upstreams, job) if needs_urls(job) else None)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                await anyio.to_thread.run_sync(self.store.skip, delivery.id, "", "job not found")
                return
            log.warning("webhook job check failed", job_id=delivery.job_id, code=exc.code().name)
            await self._recheck(delivery)
            return
        except Exception:
            log.exception("webhook job check failed", job_id=delivery.job_id)
            await self._recheck(delivery)
            return
        event = event_for(view["status"])
        if event is None:
            await self._recheck(delivery)
        elif event in delivery.events:
            payload = payload_for(delivery, event, view)
            await anyio.to_thread.run_sync(self.store.ready, delivery.id, event, payload)
            ready = await anyio.to_thread.run_sync(self.store.get, delivery.id)
            if ready is not None:
                await self.deliver(ready)  # no need to wait for the next round
        else:
            await anyio.to_thread.run_sync(self.store.skip, delivery.id, event, "event not subscribed")

    async def _recheck(self, delivery: Delivery) -> None:
        when = datetime.now(UTC) + timedelta(seconds=self.poll_interval_s)
        await anyio.to_thread.run_sync(self.store.recheck_at, delivery.id, when)

    async def deliver(self, delivery: Delivery) -> bool:
        """One signed POST of a pending delivery; records success, retry or giving up."""
        assert delivery.payload is not None and delivery.event is not None
        attempts = delivery.attempts + 1
        body = delivery.payload.encode("utf-8")
        status: int | None = None
        try:
            target = await resolve(delivery.url, self.allow)
        except TargetRefused as exc:
            log.warning("webhook target refused", delivery_id=delivery.id, reason=str(exc))
            await anyio.to_thread.run_sync(self.store.give_up, delivery.id, attempts, None, str(exc))
            return False
        timestamp = int(time.time())
        headers = {
            "Host": target.host_header,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: delivery.id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
        }
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else None
        try:
            response = await self.client.post(
                target.url, content=body, headers=headers, extensions=extensions
            )
            status = response.status_code
            error = "" if 200 <= status < 300 else f"receiver answered {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if not error:
            await anyio.to_thread.run_sync(self.store.delivered, delivery.id, attempts, status)
            log.info("webhook delivered", delivery_id=delivery.id, attempts=attempts, status=status)
            return True
        if attempts >= self.retry.max_attempts:
            log.warning("webhook given up", delivery_id=delivery.id, attempts=attempts, error=error)
            await anyio.to_thread.run_sync(self.store.give_up, delivery.id, attempts, status, error)
            return False
        when = datetime.now(UTC) + timedelta(seconds=self.retry.delay_after(attempts))
        log.info("webhook will be retried", delivery_id=delivery.id, attempts=attempts, error=error)
        await anyio.to_thread.run_sync(self.store.retry_at, delivery.id, attempts, when, status, error)
        return False
