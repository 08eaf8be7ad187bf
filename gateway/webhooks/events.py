"""Webhook event names and the ``webhook``/``webhook_events`` request fields.

One event per terminal job state; a client may subscribe to a subset. Validation is strict
(unlike the spec's lenient fields): a webhook that silently went nowhere would be worse
than a 400.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from gateway.errors import bad_request

#: Terminal state (as ``status`` names it) → event name.
EVENTS: dict[str, str] = {
    "COMPLETED": "job.completed",
    "FAILED": "job.failed",
    "TIMED_OUT": "job.timed_out",
    "CANCELLED": "job.cancelled",
}
ALL_EVENTS: tuple[str, ...] = tuple(EVENTS.values())
MAX_URL_CHARS = 2048


def event_for(state: str) -> str | None:
    """The event a job in ``state`` triggers; None while it is pending."""
    return EVENTS.get(state)


def webhook_url(body: dict[str, Any]) -> str:
    """The ``webhook`` field: empty when absent, else an absolute http(s) URL without credentials."""
    value = body.get("webhook")
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS:
        raise bad_request(f"webhook must be an http or https URL of at most {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise bad_request("webhook is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("webhook must be an http or https URL")
    if parts.username is not None or parts.password is not None:
        raise bad_request("webhook must not contain credentials")
    if port == 0:
        raise bad_request("webhook is not a valid URL")
    return value


def webhook_events(body: dict[str, Any]) -> tuple[str, ...]:
    """The ``webhook_events`` filter: a list of event names; absent means every event."""
    value = body.get("webhook_events")
    if value is None:
        return ALL_EVENTS
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_request("webhook_events must be a list of event names")
    unknown = sorted(set(value) - set(ALL_EVENTS))
    if unknown:
        raise bad_request(f"Unknown webhook event: {unknown[0]} (known: {', '.join(ALL_EVENTS)})")
    return tuple(event for event in ALL_EVENTS if event in value)
