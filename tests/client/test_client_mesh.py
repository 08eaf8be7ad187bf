"""The clients against the real mesh: generate, wait, download, verify, cancel."""

from __future__ import annotations

from typing import Any

import pytest

from imgen.client import AsyncImgenClient, ImgenClient, PollPolicy

pytestmark = pytest.mark.e2e


async def test_async_client_generates_through_the_mesh(mesh: Any) -> None:
    async with AsyncImgenClient(mesh.api_url, mesh.api_key) as client:
        job = await client.submit("a red apple on a table", width=1024, height=1024)
        meta = await client.wait(job, PollPolicy(interval_s=0.25, max_polls=400))
        signed = next(image for image in meta["images"] if image["type"] == "signed")
        image = await client.download(signed["url"])
        assert image[:2] == b"\xff\xd8"
        proof = await client.verify(image, "image/jpeg")
        assert proof["watermark"]["gen_id"] == meta["gen_id"]
        assert proof["c2pa"]["summary"] is not None and proof["c2pa"]["summary"]["gen_id"] == meta["gen_id"]
        assert proof["match"] is not None and proof["match"]["gen_id"] == meta["gen_id"]
        second = await client.submit("a blue cup")
        assert (await client.cancel(second))["status"] in ("CANCELLED", "COMPLETED")


def test_sync_client_verifies_an_image_the_mesh_made(mesh: Any) -> None:
    with ImgenClient(mesh.api_url, mesh.api_key) as client:
        meta = client.generate("a green pear", PollPolicy(interval_s=0.25, max_polls=400))
        signed = next(image for image in meta["images"] if image["type"] == "signed")
        proof = client.verify(client.download(signed["url"]))
    assert proof["watermark"]["found"] and proof["watermark"]["gen_id"] == meta["gen_id"]
