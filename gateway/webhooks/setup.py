"""Building the webhook pieces from the gateway settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from gateway.upstream import Upstreams
from gateway.webhooks.dispatcher import RetryPolicy, WebhookDispatcher
from gateway.webhooks.registry import Webhooks
from gateway.webhooks.signing import load_or_create_secret
from gateway.webhooks.store import DeliveryStore
from gateway.webhooks.targets import AllowList
from imgen.inference.v1 import inference_pb2

if TYPE_CHECKING:
    from collections.abc import Callable

    from gateway.main import Settings


def build_webhooks(settings: Settings, engine: Engine) -> Webhooks:
    """The delivery store (in the gateway database) and the URL policy."""
    return Webhooks(DeliveryStore(engine), AllowList.parse(settings.webhook_allowed_hosts))


def webhook_secret(settings: Settings) -> bytes:
    """The configured signing secret, else the one kept in the data directory."""
    if settings.webhook_secret is not None and settings.webhook_secret.get_secret_value():
        return settings.webhook_secret.get_secret_value().encode("utf-8")
    return load_or_create_secret(Path(settings.data_dir).expanduser() / "webhook_secret")


def build_dispatcher(
    settings: Settings, webhooks: Webhooks, upstreams: Callable[[], Upstreams | None]
) -> WebhookDispatcher:
    """The dispatcher task's object; create it inside the running event loop."""
    from gateway.handlers import presigned_urls

    async def presign(ups: Upstreams, job: inference_pb2.Job) -> list[str]:
        return await presigned_urls(ups, job, settings.presign_expires_s)

    return WebhookDispatcher(
        store=webhooks.store,
        upstreams=upstreams,
        secret=webhook_secret(settings),
        allow=webhooks.allow,
        retry=RetryPolicy(
            settings.webhook_max_attempts, settings.webhook_backoff_s, settings.webhook_max_backoff_s
        ),
        poll_interval_s=settings.webhook_poll_interval_s,
        timeout_s=settings.webhook_timeout_s,
        presign_urls=presign,
    )
