"""The typed clients' polling strategy against an in-process server speaking the v2 protocol.

The server scripts the answers a job goes through (the shapes of the spec's examples);
the clients send real HTTP requests to it through httpx's mock transport.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from imgen.client import ApiError, AsyncImgenClient, ContentBlocked, ImgenClient, PollPolicy

JOB = {
    "id": "run_abcdefghij0123456789",
    "prompt": "a cat",
    "model": "eros",
    "format": "jpeg",
    "gen_id": "g" * 20,
}
DONE = {"status": "COMPLETED", "meta": {"id": JOB["id"], "images": [{"type": "signed", "url": "u"}]}}
FAST = PollPolicy(interval_s=0.0, max_polls=5)


class ScriptedApi:
    """Answers generate with JOB and each status with the next scripted state."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states
        self.bodies: list[dict[str, Any]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    def answer(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != "Bearer k":
            return httpx.Response(401, json={"error": "Invalid or missing API key"})
        body = json.loads(request.content)
        self.bodies.append(body)
        if body["action"] == "generate":
            return httpx.Response(200, json=JOB)
        if body["action"] == "cancel":
            return httpx.Response(200, json={"status": "CANCELLED"})
        if body["action"] == "status":
            state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
            return httpx.Response(200, json=state)
        return httpx.Response(400, json={"error": "Unknown action"})

    async def answer_async(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)  # a poll that takes a while: a second one must not start
            return self.answer(request)
        finally:
            self.in_flight -= 1


def sync_client(api: ScriptedApi, key: str = "k") -> ImgenClient:
    return ImgenClient("http://api/api/v2", key, transport=httpx.MockTransport(api.answer))


def async_client(api: ScriptedApi, key: str = "k") -> AsyncImgenClient:
    return AsyncImgenClient("http://api/api/v2", key, transport=httpx.MockTransport(api.answer_async))


Run = Callable[[ScriptedApi], Awaitable[Any]]


async def run_sync(api: ScriptedApi) -> Any:
    with sync_client(api) as client:
        return client.generate("a cat", FAST)


async def run_async(api: ScriptedApi) -> Any:
    async with async_client(api) as client:
        return await client.generate("a cat", FAST)


both = pytest.mark.parametrize("run", [run_sync, run_async], ids=["sync", "async"])


@both
async def test_polls_through_pending_states_to_meta(run: Run) -> None:
    api = ScriptedApi([{"status": "IN_QUEUE"}, {"status": "IN_PROGRESS"}, DONE])
    meta = await run(api)
    assert meta["images"][0]["url"] == "u"
    polls = [b for b in api.bodies if b["action"] == "status"]
    assert len(polls) == 3
    assert polls[0] == {"action": "status", "id": JOB["id"], "prompt": "a cat", "model": "eros"}


@both
async def test_blocked_result_raises_before_meta_is_read(run: Run) -> None:
    blocked = {"status": "COMPLETED", "compliance": "unsafe", "error": "Blocked", "filter_categories": ["c1"]}
    with pytest.raises(ContentBlocked) as caught:
        await run(ScriptedApi([blocked]))
    assert caught.value.categories == ["c1"]


@both
@pytest.mark.parametrize("terminal", ["FAILED", "TIMED_OUT", "CANCELLED"])
async def test_failed_terminal_states_raise_with_the_api_error(run: Run, terminal: str) -> None:
    with pytest.raises(ApiError, match="went wrong"):
        await run(ScriptedApi([{"status": terminal, "error": "went wrong"}]))


@both
async def test_gives_up_after_max_polls(run: Run) -> None:
    api = ScriptedApi([{"status": "IN_PROGRESS"}])
    with pytest.raises(TimeoutError):
        await run(api)
    assert len([b for b in api.bodies if b["action"] == "status"]) == FAST.max_polls


async def test_async_polls_never_overlap() -> None:
    api = ScriptedApi([{"status": "IN_QUEUE"}] * 4 + [DONE])
    async with async_client(api) as client:
        await client.generate("a cat", FAST)
    assert api.most_in_flight == 1


async def test_cancel_and_error_answers() -> None:
    api = ScriptedApi([DONE])
    with sync_client(api) as client:
        assert client.cancel(JOB) == {"status": "CANCELLED"}
        assert api.bodies[-1]["action"] == "cancel" and api.bodies[-1]["id"] == JOB["id"]
    async with async_client(api) as aclient:
        assert await aclient.cancel(JOB) == {"status": "CANCELLED"}
    async with async_client(api, key="wrong") as denied:
        with pytest.raises(ApiError) as caught:
            await denied.models()
    assert caught.value.status_code == 401
    assert str(caught.value) == "Invalid or missing API key"
