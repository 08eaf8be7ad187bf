"""Typed clients for the v2 action API, sync and async, with the spec's polling strategy built in.

The CLI uses :class:`ImgenClient`; asyncio programs use :class:`AsyncImgenClient`, which
has the same methods as coroutines. Both speak only HTTP/JSON, exactly like the spec's
own examples, so they work against any deployment of the API. What the two share (the
request bodies, how an answer or a poll is judged) lives in plain functions here, so
the two cannot drift apart.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict, cast

import httpx

PENDING = ("IN_QUEUE", "IN_PROGRESS")
TERMINAL = ("COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED")

State = Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED"]


class Job(TypedDict):
    """What ``generate`` answers; pass it to ``status``/``wait``/``cancel``."""

    id: str
    prompt: str
    model: str
    format: str
    gen_id: str


class Meta(TypedDict, total=False):
    """``meta`` of a safe COMPLETED job (the spec's fields; servers may add more)."""

    id: str
    gen_id: str
    prompt: str
    model: str
    style: str
    width: int
    height: int
    format: str
    seed: int
    compliance: str
    compliance_codes: list[str]
    fingerprint: str
    images: list[dict[str, Any]]
    watermark: str
    notes: list[str]


class JobStatus(TypedDict):
    """What ``status`` answers: a state and, by state, meta, an error or blocked categories."""

    status: State
    meta: NotRequired[Meta]
    error: NotRequired[str]
    compliance: NotRequired[str]
    filter_categories: NotRequired[list[str]]


class CancelResult(TypedDict):
    """What ``cancel`` answers: the job's state after the request."""

    status: State


class C2paResult(TypedDict):
    """The C2PA part of ``verify``: validation state, status codes, manifest summary (or None)."""

    state: str
    status_codes: list[str]
    summary: dict[str, Any] | None


class WatermarkResult(TypedDict):
    """The invisible watermark part of ``verify``; ``gen_id`` is set when the payload is ours."""

    found: bool
    payload: str
    gen_id: str | None
    bit_errors: int | None
    confidence: float


class VerifyResult(TypedDict):
    """What ``verify`` answers: C2PA, watermark, PDQ fingerprint and the nearest known generation."""

    c2pa: C2paResult
    watermark: WatermarkResult
    fingerprint: dict[str, Any]
    match: dict[str, Any] | None


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


OnPoll = Callable[[JobStatus], None]


def status_body(job: Job | dict[str, Any]) -> dict[str, Any]:
    """The ``status`` (and ``cancel``) body for a job returned by ``generate``."""
    return {
        "action": "status",
        "id": job["id"],
        "prompt": job.get("prompt", ""),
        "model": job.get("model", ""),
    }


def verify_body(image: bytes, mime_type: str = "") -> dict[str, Any]:
    """The ``verify`` body for a file's bytes: base64, as a data URI when the type is known."""
    encoded = base64.b64encode(image).decode("ascii")
    return {"action": "verify", "image": f"data:{mime_type};base64,{encoded}" if mime_type else encoded}


def parse_answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 2xx answer; :class:`ApiError` with the API's message otherwise."""
    try:
        payload = response.json()
    except ValueError as exc:
        raise ApiError(f"non-JSON answer ({response.status_code})", response.status_code) from exc
    if response.status_code >= 400:
        message = payload.get("error") if isinstance(payload, dict) else None
        raise ApiError(str(message or response.reason_phrase), response.status_code)
    if not isinstance(payload, dict):
        raise ApiError("unexpected answer shape", response.status_code)
    return payload


def settled_meta(state: JobStatus) -> Meta | None:
    """None while the job is pending; its meta once safely COMPLETED; raises for any other end.

    The spec's rule: on COMPLETED, check compliance before touching meta.
    """
    status = state.get("status")
    if status in PENDING:
        return None
    if status == "COMPLETED":
        if state.get("compliance") == "unsafe":
            raise ContentBlocked(str(state.get("error")), list(state.get("filter_categories", [])))
        return cast(Meta, dict(state["meta"]))
    raise ApiError(str(state.get("error") or f"Failed: {status}"))


def _headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}


class ImgenClient:
    """Synchronous client for ``POST /api/v2``."""

    def __init__(
        self, api_url: str, api_key: str, timeout: float = 30.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.api_url = api_url
        self._http = httpx.Client(timeout=timeout, headers=_headers(api_key), transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ImgenClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def call(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST one action; raise :class:`ApiError` on a non-2xx answer."""
        return parse_answer(self._http.post(self.api_url, json=body))

    def models(self) -> dict[str, Any]:
        """The ``models`` action."""
        return self.call({"action": "models"})

    def submit(self, prompt: str, **fields: Any) -> Job:
        """The ``generate`` action; returns the job (id, prompt, model, format, gen_id)."""
        return cast(Job, self.call({"action": "generate", "prompt": prompt, **fields}))

    def status(self, job: Job | dict[str, Any]) -> JobStatus:
        """The ``status`` action for a job returned by :meth:`submit`."""
        return cast(JobStatus, self.call(status_body(job)))

    def cancel(self, job: Job | dict[str, Any]) -> CancelResult:
        """The ``cancel`` action (beyond the spec): end a queued or running job."""
        return cast(CancelResult, self.call({**status_body(job), "action": "cancel"}))

    def verify(self, image: bytes, mime_type: str = "") -> VerifyResult:
        """The ``verify`` action (beyond the spec): what ``image`` proves about its origin."""
        return cast(VerifyResult, self.call(verify_body(image, mime_type)))

    def wait(
        self, job: Job | dict[str, Any], policy: PollPolicy | None = None, on_poll: OnPoll | None = None
    ) -> Meta:
        """Poll until a terminal state; return ``meta`` of a safe COMPLETED job.

        Each poll completes before the next starts. Raises :class:`ContentBlocked` for an
        unsafe result, :class:`ApiError` for FAILED/TIMED_OUT/CANCELLED,
        :class:`TimeoutError` after ``max_polls``.
        """
        policy = policy or PollPolicy()
        for _ in range(policy.max_polls):
            time.sleep(policy.interval_s)
            state = self.status(job)
            if on_poll:
                on_poll(state)
            meta = settled_meta(state)
            if meta is not None:
                return meta
        raise TimeoutError("polling timed out")

    def generate(
        self, prompt: str, policy: PollPolicy | None = None, on_poll: OnPoll | None = None, **fields: Any
    ) -> Meta:
        """Submit and wait: the whole generation as the spec's examples do it."""
        return self.wait(self.submit(prompt, **fields), policy, on_poll)

    def download(self, url: str) -> bytes:
        """Fetch a pre-signed URL (no API key is sent: the URL carries its own authority)."""
        response = httpx.get(url, timeout=60.0)
        if response.status_code != 200:
            raise ApiError(f"download failed ({response.status_code})", response.status_code)
        return response.content


class AsyncImgenClient:
    """The same client for asyncio: every method of :class:`ImgenClient` as a coroutine."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.api_url = api_url
        self._http = httpx.AsyncClient(timeout=timeout, headers=_headers(api_key), transport=transport)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncImgenClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def call(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST one action; raise :class:`ApiError` on a non-2xx answer."""
        return parse_answer(await self._http.post(self.api_url, json=body))

    async def models(self) -> dict[str, Any]:
        """The ``models`` action."""
        return await self.call({"action": "models"})

    async def submit(self, prompt: str, **fields: Any) -> Job:
        """The ``generate`` action; returns the job (id, prompt, model, format, gen_id)."""
        return cast(Job, await self.call({"action": "generate", "prompt": prompt, **fields}))

    async def status(self, job: Job | dict[str, Any]) -> JobStatus:
        """The ``status`` action for a job returned by :meth:`submit`."""
        return cast(JobStatus, await self.call(status_body(job)))

    async def cancel(self, job: Job | dict[str, Any]) -> CancelResult:
        """The ``cancel`` action (beyond the spec): end a queued or running job."""
        return cast(CancelResult, await self.call({**status_body(job), "action": "cancel"}))

    async def verify(self, image: bytes, mime_type: str = "") -> VerifyResult:
        """The ``verify`` action (beyond the spec); see :meth:`ImgenClient.verify`."""
        return cast(VerifyResult, await self.call(verify_body(image, mime_type)))

    async def wait(
        self, job: Job | dict[str, Any], policy: PollPolicy | None = None, on_poll: OnPoll | None = None
    ) -> Meta:
        """Poll until a terminal state, one poll at a time; see :meth:`ImgenClient.wait`."""
        policy = policy or PollPolicy()
        for _ in range(policy.max_polls):
            await asyncio.sleep(policy.interval_s)
            state = await self.status(job)
            if on_poll:
                on_poll(state)
            meta = settled_meta(state)
            if meta is not None:
                return meta
        raise TimeoutError("polling timed out")

    async def generate(
        self, prompt: str, policy: PollPolicy | None = None, on_poll: OnPoll | None = None, **fields: Any
    ) -> Meta:
        """Submit and wait: the whole generation as the spec's examples do it."""
        return await self.wait(await self.submit(prompt, **fields), policy, on_poll)

    async def download(self, url: str) -> bytes:
        """Fetch a pre-signed URL (no API key is sent: the URL carries its own authority)."""
        async with httpx.AsyncClient(timeout=60.0) as plain:
            response = await plain.get(url)
        if response.status_code != 200:
            raise ApiError(f"download failed ({response.status_code})", response.status_code)
        return response.content
