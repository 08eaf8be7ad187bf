"""What ``generate`` needs from webhooks: vet the URL now, register the job for delivery."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import anyio.to_thread

from gateway.errors import bad_request
from gateway.webhooks.store import DeliveryStore
from gateway.webhooks.targets import AllowList, TargetRefused, resolve


@dataclass(frozen=True)
class Webhooks:
    """The delivery store and the URL policy, shared by the handlers and the dispatcher."""

    store: DeliveryStore
    allow: AllowList

    async def vet(self, url: str) -> None:
        """400 for a URL the policy refuses, before any job is queued.

        Delivery checks again (DNS may have changed); this check only spares the client a
        webhook that could never be delivered.
        """
        try:
            await resolve(url, self.allow)
        except TargetRefused as exc:
            raise bad_request(f"webhook is not allowed: {exc}") from None

    async def watch(self, job_id: str, api_key_id: str, url: str, events: Sequence[str]) -> str:
        """Persist the subscription; the dispatcher takes it from there."""
        return await anyio.to_thread.run_sync(self.store.watch, job_id, api_key_id, url, tuple(events))
