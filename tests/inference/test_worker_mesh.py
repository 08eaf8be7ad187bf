"""The worker against the real compliance, provenance and storage services over gRPC.

Each upstream runs its own ``serve(settings)`` on a free loopback port; the inference
service runs in-process with one worker. A job goes the whole way: denoise → image
review → finalize → stored signed image and thumbnail → COMPLETED with its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest

from imgen.inference.v1 import inference_pb2
from imgen.provenance.v1 import provenance_pb2, provenance_pb2_grpc
from imgen.storage.v1 import storage_pb2, storage_pb2_grpc
from services.inference.main import Settings
from tests.inference.helpers import job_spec, running_inference, wait_for_state, wait_serving

UPSTREAMS = ("compliance", "provenance", "storage")
TERMINAL = {
    inference_pb2.JOB_STATE_COMPLETED,
    inference_pb2.JOB_STATE_FAILED,
    inference_pb2.JOB_STATE_TIMED_OUT,
    inference_pb2.JOB_STATE_CANCELLED,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def _upstreams(data_dir: Path) -> AsyncIterator[dict[str, str]]:
    """Start each upstream's ``serve(settings)``; yield service name → address."""
    addresses: dict[str, str] = {}
    tasks: list[asyncio.Task[None]] = []
    try:
        for name in UPSTREAMS:
            module: Any = importlib.import_module(f"services.{name}.main")
            port = _free_port()
            settings = module.Settings(port=port, data_dir=data_dir / name, log_format="json")
            tasks.append(asyncio.create_task(module.serve(settings)))
            addresses[name] = f"127.0.0.1:{port}"
        for address in addresses.values():
            await wait_serving(address, timeout=180)
        yield addresses
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.e2e
async def test_job_is_delivered_through_real_upstreams(tmp_path: Path) -> None:
    async with _upstreams(tmp_path) as addresses:
        settings = Settings(
            port=0,
            data_dir=tmp_path / "inference",
            compliance_addr=addresses["compliance"],
            provenance_addr=addresses["provenance"],
            storage_addr=addresses["storage"],
            call_timeout_s=30.0,
            heartbeat_s=0.2,
            poll_interval_s=0.1,
            log_format="json",
        )
        async with running_inference(settings) as (_app, stub):
            spec = job_spec(width=1344, height=768, seed=42)
            submitted = (await stub.SubmitJob(inference_pb2.SubmitJobRequest(spec=spec))).job
            job = await wait_for_state(stub, submitted.id, TERMINAL, timeout=120)

        assert job.state == inference_pb2.JOB_STATE_COMPLETED, job.error
        assert job.compliance == "safe"
        assert (job.step, job.total_steps) == (2, 2)
        result = job.result
        assert re.fullmatch(r"[0-9a-f]{64}", result.fingerprint)
        assert result.watermark_payload
        assert "built for tests" in result.notes
        signed, thumb = result.images
        date = job.created_at[:10].replace("-", "/")
        assert signed.type == "signed" and thumb.type == "thumbnail"
        assert signed.filename == f"{job.gen_id}_{result.fingerprint}_00001.jpg"
        assert thumb.filename == f"{job.gen_id}_{result.fingerprint}_00001_thumb.jpg"
        assert signed.key == f"images/{date}/{job.gen_id}/{signed.filename}"
        assert signed.mime_type == "image/jpeg" and signed.size > 0

        async with grpc.aio.insecure_channel(addresses["storage"]) as channel:
            storage = storage_pb2_grpc.StorageServiceStub(channel)
            urls = await storage.PresignUrls(storage_pb2.PresignUrlsRequest(keys=[signed.key]), timeout=10)
            query = parse_qs(urlsplit(urls.urls[0].url).query)
            data = b""
            async for chunk in storage.ReadSignedObject(
                storage_pb2.ReadSignedObjectRequest(
                    key=signed.key, expires=int(query["expires"][0]), signature=query["signature"][0]
                ),
                timeout=10,
            ):
                data += chunk.chunk
        assert len(data) == signed.size

        async with grpc.aio.insecure_channel(addresses["provenance"]) as channel:
            provenance = provenance_pb2_grpc.ProvenanceServiceStub(channel)
            verified = await provenance.Verify(provenance_pb2.VerifyRequest(data=data), timeout=30)
        assert verified.c2pa_state in ("Trusted", "Valid")
        assert verified.watermark_found and verified.watermark_payload == result.watermark_payload
        assert verified.fingerprint == result.fingerprint
