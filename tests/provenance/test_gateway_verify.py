"""The gateway's `verify` action in front of a real provenance service (in process), and over the mesh."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import pytest_asyncio
from PIL import Image

from gateway.app import create_app
from gateway.errors import ApiError
from gateway.keys import KeyStore
from gateway.main import Settings as GatewaySettings
from gateway.verify_action import MAX_IMAGE_BYTES, decode_image_field
from imgen.common.v1 import image_pb2
from imgen.provenance.v1 import provenance_pb2, provenance_pb2_grpc
from services.provenance.main import SERVICE_NAMES, build_runtime
from services.provenance.main import Settings as ProvenanceSettings
from tests.provenance.conftest import textured_frame

GEN_ID = "g4t3w4yv3r1fy0000000"


async def wait_serving(runtime: Any, task: asyncio.Task[None]) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    for _ in range(400):
        if task.done():
            task.result()
        if runtime.bound_port:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.bound_port}") as channel:
                try:
                    reply = await health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(service=SERVICE_NAMES[0]), timeout=1
                    )
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
        await asyncio.sleep(0.025)
    raise RuntimeError("provenance did not become ready")


class Env:
    def __init__(self, client: httpx.AsyncClient, key: str, delivered: bytes, payload: str) -> None:
        self.client, self.key, self.delivered, self.payload = client, key, delivered, payload

    async def verify(self, image: str) -> httpx.Response:
        return await self.client.post(
            "/api/v2",
            json={"action": "verify", "image": image},
            headers={"Authorization": f"Bearer {self.key}"},
        )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("verify")
    runtime = build_runtime(ProvenanceSettings(port=0, data_dir=tmp, log_format="json", shutdown_grace_s=0.2))
    task = asyncio.create_task(runtime.run(SERVICE_NAMES))
    await wait_serving(runtime, task)
    address = f"127.0.0.1:{runtime.bound_port}"
    frame = textured_frame(800, 512, seed=5)
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await provenance_pb2_grpc.ProvenanceServiceStub(channel).Finalize(
            provenance_pb2.FinalizeRequest(
                image=image_pb2.RawImage(width=800, height=512, rgb=frame.tobytes()),
                job_id="run_g4t3w4yv3r1fy0000000",
                gen_id=GEN_ID,
                format="jpeg",
                quality=95,
                enable_invisimark=True,
                enable_c2pa=True,
                compute_pdq=True,
            ),
            timeout=30,
        )
    settings = GatewaySettings(
        port=0,
        data_dir=tmp,
        log_format="json",
        provenance_addr=address,
        prompt_addr="127.0.0.1:1",
        storage_addr="127.0.0.1:1",
        compliance_addr="127.0.0.1:1",
        inference_addr="127.0.0.1:1",
        request_timeout_s=20,
        max_body_bytes=4 * 1024 * 1024,
    )
    store = KeyStore(settings.resolved_database_url())
    _record, api_key = store.create("verify-tests")
    app = create_app(settings, store)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
                yield Env(client, api_key, reply.image.data, reply.watermark_payload)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.mark.asyncio(loop_scope="module")
async def test_verify_the_delivered_file(env: Env) -> None:
    response = await env.verify("data:image/jpeg;base64," + b64(env.delivered))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["c2pa"]["state"] == "Trusted"
    assert body["c2pa"]["summary"]["gen_id"] == GEN_ID and body["c2pa"]["summary"]["title"] == "AI Image"
    assert body["watermark"]["found"] and body["watermark"]["gen_id"] == GEN_ID
    assert body["watermark"]["payload"] == env.payload and body["watermark"]["confidence"] > 0.8
    assert len(body["fingerprint"]["pdq"]) == 64
    assert body["match"]["gen_id"] == GEN_ID and body["match"]["distance"] == 0
    assert "job_id" not in body["match"]


@pytest.mark.asyncio(loop_scope="module")
async def test_verify_a_resized_reencoded_copy(env: Env) -> None:
    image = Image.open(io.BytesIO(env.delivered)).convert("RGB").resize((400, 256), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=80)
    body = (await env.verify(b64(buffer.getvalue()))).json()
    assert body["c2pa"] == {"state": "Absent", "status_codes": [], "summary": None}
    assert body["match"] is not None and body["match"]["gen_id"] == GEN_ID and body["match"]["distance"] <= 31


@pytest.mark.asyncio(loop_scope="module")
async def test_verify_bad_input_gets_clear_errors(env: Env) -> None:
    missing = await env.client.post(
        "/api/v2", json={"action": "verify"}, headers={"Authorization": f"Bearer {env.key}"}
    )
    assert missing.status_code == 400 and "image is required" in missing.json()["error"]
    assert (await env.verify("***")).status_code == 400
    not_image = await env.verify(b64(b"hello, not an image"))
    assert not_image.status_code == 400 and "not a readable" in not_image.json()["error"]
    too_big = await env.verify(b64(bytes(5 * 1024 * 1024)))  # over the 4 MiB body limit
    assert too_big.status_code == 413


def test_decoded_size_limit_is_413() -> None:
    with pytest.raises(ApiError) as error:
        decode_image_field({"image": b64(bytes(MAX_IMAGE_BYTES + 1))})
    assert error.value.status == 413
    assert decode_image_field({"image": "data:image/png;base64," + b64(b"abc")}) == (b"abc", "image/png")


@pytest.mark.e2e
def test_verify_over_the_mesh(mesh: Any) -> None:
    import time

    def call(body: dict[str, Any]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {mesh.api_key}"}
        return httpx.post(f"{mesh.base_url}/api/v2", json=body, headers=headers, timeout=60)

    started = call({"action": "generate", "prompt": "@aya black dress", "format": "jpeg"})
    assert started.status_code == 200, started.text
    job_id, gen_id = started.json()["id"], started.json()["gen_id"]
    deadline = time.monotonic() + 120
    while True:
        status = call({"action": "status", "id": job_id}).json()
        if status.get("status") == "COMPLETED" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    url = status["meta"]["images"][0]["url"]
    data = httpx.get(url, timeout=30).content
    body = call({"action": "verify", "image": b64(data)}).json()
    assert body["c2pa"]["state"] == "Trusted" and body["watermark"]["gen_id"] == gen_id
    assert body["match"]["gen_id"] == gen_id and body["match"]["distance"] == 0
    assert np.isfinite(body["watermark"]["confidence"])
