"""A small typed client for the v2 action API, with the spec's polling strategy built in.

The CLI uses it, and so can any Python program: it speaks only HTTP/JSON, exactly like
the spec's own examples, so it works against any deployment of the API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

PENDING = ("IN_QUEUE", "IN_PROGRESS")
TERMINAL = ("COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED")


class ApiError(RuntimeError):
    """The API answered with an error (``{"error": ...}``) or a job did not complete."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ContentBlocked(ApiError):
    """The job completed but compliance blocked it."""

    def __init__(self, message: str, categories: list[str]) -> None:
        super().__init__(message)
        self.categories = categories


@dataclass
class PollPolicy:
    """The spec's recommended polling: every 3 s, at most 120 polls, never overlapping."""

    interval_s: float = 3.0
    max_polls: int = 120


class ImgenClient:
    """Synchronous client for ``POST /api/v2``."""

    def __init__(self, api_url: str, api_key: str, timeout: float = 30.0) -> None:
        self.api_url = api_url
        self._http = httpx.Client(
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ImgenClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def call(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST one action; raise :class:`ApiError` on a non-2xx answer."""
        response = self._http.post(self.api_url, json=body)
        try:
            payload = response.json()
        except ValueError as exc:
            raise ApiError(f"non-JSON answer ({response.status_code})", response.status_code) from exc
        if response.status_code >= 400:
            raise ApiError(str(payload.get("error", response.reason_phrase)), response.status_code)
        if not isinstance(payload, dict):
            raise ApiError("unexpected answer shape", response.status_code)
        return payload

    def models(self) -> dict[str, Any]:
        """The ``models`` action."""
        return self.call({"action": "models"})

    def submit(self, prompt: str, **fields: Any) -> dict[str, Any]:
        """The ``generate`` action; returns the job (id, prompt, model, format, gen_id)."""
        return self.call({"action": "generate", "prompt": prompt, **fields})

    def status(self, job: dict[str, Any]) -> dict[str, Any]:
        """The ``status`` action for a job returned by :meth:`submit`."""
        return self.call(
            {
                "action": "status",
                "id": job["id"],
                "prompt": job.get("prompt", ""),
                "model": job.get("model", ""),
            }
        )

    def wait(
        self,
        job: dict[str, Any],
        policy: PollPolicy | None = None,
        on_poll: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until a terminal state; return ``meta`` of a safe COMPLETED job.

        Raises :class:`ContentBlocked` for an unsafe result, :class:`ApiError` for
        FAILED/TIMED_OUT/CANCELLED, :class:`TimeoutError` after ``max_polls``.
        """
        policy = policy or PollPolicy()
        for _ in range(policy.max_polls):
            time.sleep(policy.interval_s)
            state = self.status(job)  # each poll completes before the next starts
            if on_poll:
                on_poll(state)
            if state.get("status") in PENDING:
                continue
            if state.get("status") == "COMPLETED":
                if state.get("compliance") == "unsafe":
                    raise ContentBlocked(str(state.get("error")), list(state.get("filter_categories", [])))
                return dict(state["meta"])
            raise ApiError(str(state.get("error") or f"Failed: {state.get('status')}"))
        raise TimeoutError("polling timed out")

    def generate(
        self,
        prompt: str,
        policy: PollPolicy | None = None,
        on_poll: Callable[[dict[str, Any]], None] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Submit and wait: the whole generation as the spec's examples do it."""
        return self.wait(self.submit(prompt, **fields), policy, on_poll)

    def download(self, url: str) -> bytes:
        """Fetch a pre-signed URL (no API key is sent: the URL carries its own authority)."""
        response = httpx.get(url, timeout=60.0)
        if response.status_code != 200:
            raise ApiError(f"download failed ({response.status_code})", response.status_code)
        return response.content
