"""``verify`` through the typed clients: the body they send, and the gateway app answering it.

The in-process test runs the gateway app (httpx.ASGITransport) in front of the real
provenance service, so the client's encoding meets the gateway's own decoder and the
answer comes from the real Verify; the mesh test (test_client_mesh.py) verifies an image
the mesh generated.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import pytest_asyncio
from PIL import Image

from gateway.app import create_app
from gateway.keys import KeyStore
from gateway.main import Settings as GatewaySettings
from imgen.client import ApiError, AsyncImgenClient, ImgenClient, verify_body
from imgen.mesh import free_port
from services.provenance.main import SERVICE_NAMES, build_runtime
from services.provenance.main import Settings as ProvenanceSettings
from tests.gateway.conftest import start_runtime


def png_bytes() -> bytes:
    rng = np.random.default_rng(7)
    coarse = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize((256, 256), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_verify_body_is_base64_or_a_data_uri() -> None:
    assert verify_body(b"\x89PNG") == {"action": "verify", "image": base64.b64encode(b"\x89PNG").decode()}
    uri = verify_body(b"\xff\xd8", "image/jpeg")["image"]
    assert uri == "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8").decode()


def test_sync_client_sends_verify_and_returns_the_answer() -> None:
    seen: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        if seen[-1]["image"] == "":
            return httpx.Response(400, json={"error": "image is required (base64 or a data URI)"})
        return httpx.Response(200, json={"watermark": {"found": False}})

    with ImgenClient("http://api/api/v2", "k", transport=httpx.MockTransport(answer)) as client:
        assert client.verify(b"abc", "image/png")["watermark"] == {"found": False}
        with pytest.raises(ApiError) as refused:
            client.verify(b"")
    assert seen[0] == {"action": "verify", "image": "data:image/png;base64,YWJj"}
    assert refused.value.status_code == 400 and "image is required" in str(refused.value)


@pytest_asyncio.fixture
async def gateway_with_provenance(tmp_path: Path) -> AsyncIterator[AsyncImgenClient]:
    runtime = build_runtime(ProvenanceSettings(port=0, data_dir=tmp_path / "provenance", log_format="json"))
    task = await start_runtime(runtime, SERVICE_NAMES)
    dead = f"127.0.0.1:{free_port()}"
    settings = GatewaySettings(
        port=0,
        data_dir=tmp_path / "gateway",
        log_format="json",
        prompt_addr=dead,
        inference_addr=dead,
        compliance_addr=dead,
        storage_addr=dead,
        provenance_addr=f"127.0.0.1:{runtime.bound_port}",
        request_timeout_s=30,
    )
    settings.data_dir.mkdir()
    store = KeyStore(settings.resolved_database_url())
    _record, api_key = store.create("verify-tests")
    app = create_app(settings, store)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with AsyncImgenClient("http://gateway.test/api/v2", api_key, transport=transport) as client:
                yield client
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()


async def test_async_client_verifies_through_the_gateway_app(
    gateway_with_provenance: AsyncImgenClient,
) -> None:
    result = await gateway_with_provenance.verify(png_bytes(), "image/png")
    assert set(result) == {"c2pa", "watermark", "fingerprint", "match"}
    assert result["c2pa"]["summary"] is None  # an image nobody signed
    assert result["watermark"]["found"] is False and result["watermark"]["gen_id"] is None
    assert len(result["fingerprint"]["pdq"]) == 64 and result["match"] is None
    with pytest.raises(ApiError) as refused:
        await gateway_with_provenance.verify(b"")
    assert refused.value.status_code == 400
