"""ProvenanceService over real gRPC, wired exactly as `imgen serve provenance` wires it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from imgen.common.v1 import image_pb2
from imgen.provenance.v1 import provenance_pb2, provenance_pb2_grpc
from services.provenance.main import SERVICE_NAMES, Settings, build_runtime
from services.shared.server import ServiceRuntime
from tests.provenance.conftest import textured_frame


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[ServiceRuntime]:
    settings = Settings(port=0, data_dir=tmp_path, shutdown_grace_s=0.5, log_format="json")
    runtime = build_runtime(settings)
    task = asyncio.create_task(runtime.run(SERVICE_NAMES))
    for _ in range(300):
        if runtime.bound_port:
            break
        await asyncio.sleep(0.01)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.bound_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(300):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAMES[0]), timeout=2)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("provenance never became SERVING")
    yield runtime
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def finalize_request(frame: np.ndarray, **fields: object) -> provenance_pb2.FinalizeRequest:
    height, width = frame.shape[:2]
    values: dict[str, object] = {
        "image": image_pb2.RawImage(width=width, height=height, rgb=frame.tobytes()),
        "job_id": "run_k3j9x0a7b2c4d6e8f1g5",
        "gen_id": "k3j9x0a7b2c4d6e8f1g5",
        "format": "jpeg",
        "quality": 95,
        "brand": provenance_pb2.BrandWatermark(
            position="bottom-right", scale=5, transparency=100, padding_x=10, padding_y=10
        ),
        "credentials": provenance_pb2.Credentials(author="Ada"),
        "generation": provenance_pb2.GenerationInfo(model="eros", style="professional", seed=7),
        "enable_invisimark": True,
        "enable_c2pa": True,
        "compute_pdq": True,
    }
    values.update(fields)
    return provenance_pb2.FinalizeRequest(**values)  # type: ignore[arg-type]


async def test_finalize_then_verify_over_grpc(running: ServiceRuntime, tmp_path: Path) -> None:
    frame = textured_frame(640, 480, seed=11)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.bound_port}") as channel:
        stub = provenance_pb2_grpc.ProvenanceServiceStub(channel)
        reply = await stub.Finalize(finalize_request(frame), timeout=30)
        assert (reply.image.mime_type, reply.image.extension, reply.image.width) == ("image/jpeg", "jpg", 640)
        assert reply.thumbnail.width == 256 and reply.thumbnail.height == 192
        assert len(reply.fingerprint) == 64 and len(reply.watermark_payload) == 16
        assert reply.credentials.author == "Ada" and reply.credentials.title == "AI Image"

        verified = await stub.Verify(provenance_pb2.VerifyRequest(data=reply.image.data), timeout=30)
        assert verified.c2pa_state == "Trusted"
        assert verified.watermark_found and verified.watermark_payload == reply.watermark_payload
        assert verified.watermark_confidence > 0.8
        assert verified.fingerprint == reply.fingerprint
        generation = next(
            a
            for a in json.loads(verified.c2pa_manifest_json)["assertions"]
            if a["label"] == "com.imgen.generation"
        )
        assert generation["data"]["seed"] == 7 and generation["data"]["model"] == "eros"
    # The dev chain and watermark key were generated into the data dir on first start.
    assert (tmp_path / "provenance" / "certs" / "root.pem").is_file()
    assert (tmp_path / "provenance" / "watermark.key").is_file()


async def test_bad_input_is_invalid_argument(running: ServiceRuntime) -> None:
    frame = textured_frame(320, 240)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.bound_port}") as channel:
        stub = provenance_pb2_grpc.ProvenanceServiceStub(channel)
        bad_requests = [
            finalize_request(
                frame, brand=provenance_pb2.BrandWatermark(image_data_uri="data:image/gif;base64,R0lG")
            ),
            finalize_request(frame, image=image_pb2.RawImage(width=320, height=240, rgb=b"\0" * 10)),
            finalize_request(frame, gen_id=""),
        ]
        for bad in bad_requests:
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await stub.Finalize(bad, timeout=10)
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.Verify(provenance_pb2.VerifyRequest(data=b"not an image"), timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a readable" in (error.value.details() or "")
