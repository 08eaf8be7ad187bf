"""The async client against the real mesh: generate, wait, download, cancel."""

from __future__ import annotations

from typing import Any

import pytest

from imgen.client import AsyncImgenClient, PollPolicy

pytestmark = pytest.mark.e2e


async def test_async_client_generates_through_the_mesh(mesh: Any) -> None:
    async with AsyncImgenClient(mesh.api_url, mesh.api_key) as client:
        job = await client.submit("a red apple on a table", width=1024, height=1024)
        meta = await client.wait(job, PollPolicy(interval_s=0.25, max_polls=400))
        signed = next(image for image in meta["images"] if image["type"] == "signed")
        assert (await client.download(signed["url"]))[:2] == b"\xff\xd8"
        second = await client.submit("a blue cup")
        assert (await client.cancel(second))["status"] in ("CANCELLED", "COMPLETED")
