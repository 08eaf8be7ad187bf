"""InferenceService as a real gRPC server: submit, poll, cancel, and failures that need no upstream.

The upstream addresses point at a closed port, so a job that gets past denoising meets
real transport errors; the worker's retries and its FAILED outcome are what is tested.
Delivery through real compliance/provenance/storage is in test_worker_mesh.py.
"""

from __future__ import annotations

import socket
from pathlib import Path

import grpc
import pytest

from imgen.compliance.v1 import compliance_pb2
from imgen.inference.v1 import inference_pb2
from imgen.prompt.v1 import prompt_pb2
from services.inference.main import Settings
from tests.inference.helpers import job_spec, running_inference, wait_for_state

TERMINAL = {
    inference_pb2.JOB_STATE_COMPLETED,
    inference_pb2.JOB_STATE_FAILED,
    inference_pb2.JOB_STATE_TIMED_OUT,
    inference_pb2.JOB_STATE_CANCELLED,
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _settings(data_dir: Path, **overrides: object) -> Settings:
    dead = f"127.0.0.1:{_closed_port()}"
    values: dict[str, object] = {
        "port": 0,
        "data_dir": data_dir,
        "compliance_addr": dead,
        "provenance_addr": dead,
        "storage_addr": dead,
        "call_timeout_s": 1.0,
        "upstream_attempts": 2,
        "upstream_backoff_s": 0.01,
        "heartbeat_s": 0.2,
        "poll_interval_s": 0.1,
        "log_format": "json",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared so the tiny model is built once for the module."""
    return tmp_path_factory.mktemp("inference-servicer")


async def test_ids_are_validated(data_dir: Path) -> None:
    async with running_inference(_settings(data_dir, workers=0)) as (_app, stub):
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.GetJob(inference_pb2.GetJobRequest(id="nope"))
        assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetJob(inference_pb2.GetJobRequest(id="run_aaaaaaaaaaaaaaaaaaaa"))
        assert missing.value.code() is grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as cancel_missing:
            await stub.CancelJob(inference_pb2.CancelJobRequest(id="run_aaaaaaaaaaaaaaaaaaaa"))
        assert cancel_missing.value.code() is grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as no_spec:
            await stub.SubmitJob(inference_pb2.SubmitJobRequest())
        assert no_spec.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_queue_positions_and_cancel_of_queued_job(data_dir: Path) -> None:
    async with running_inference(_settings(data_dir, workers=0)) as (_app, stub):
        jobs = [(await stub.SubmitJob(inference_pb2.SubmitJobRequest(spec=job_spec()))).job for _ in range(3)]
        assert [j.state for j in jobs] == [inference_pb2.JOB_STATE_IN_QUEUE] * 3
        assert [j.queue_position for j in jobs] == [0, 1, 2]
        assert jobs[0].id.startswith("run_") and len(jobs[0].gen_id) == 20
        assert jobs[0].spec.prompt.positive == "a red fox, masterpiece" and jobs[0].created_at.endswith("Z")
        cancelled = (await stub.CancelJob(inference_pb2.CancelJobRequest(id=jobs[0].id))).job
        assert cancelled.state == inference_pb2.JOB_STATE_CANCELLED and cancelled.finished_at
        third = (await stub.GetJob(inference_pb2.GetJobRequest(id=jobs[2].id))).job
        assert third.queue_position == 1
        with pytest.raises(grpc.aio.AioRpcError) as again:
            await stub.CancelJob(inference_pb2.CancelJobRequest(id=jobs[0].id))
        assert again.value.code() is grpc.StatusCode.FAILED_PRECONDITION


async def test_blocked_prompt_completes_unsafe_without_running(data_dir: Path) -> None:
    verdict = compliance_pb2.Verdict(
        blocked=True, blocking=[compliance_pb2.Category(id="minors", name="Minors")], codes=["violence"]
    )
    async with running_inference(_settings(data_dir, workers=0)) as (_app, stub):
        job = (
            await stub.SubmitJob(inference_pb2.SubmitJobRequest(spec=job_spec(), prompt_verdict=verdict))
        ).job
        assert job.state == inference_pb2.JOB_STATE_COMPLETED
        assert job.compliance == "unsafe"
        assert [c.id for c in job.blocking_verdict.blocking] == ["minors"]
        assert list(job.compliance_codes) == ["violence"]
        assert not job.HasField("result")


async def test_worker_failures_are_clear(data_dir: Path) -> None:
    """Missing LoRA fails at once; unreachable upstreams fail after retries; both keep the worker alive."""
    async with running_inference(_settings(data_dir, workers=1)) as (_app, stub):
        no_lora = job_spec()
        no_lora.prompt.lora.CopyFrom(
            prompt_pb2.LoraRef(name="aya", source=str(data_dir / "missing.safetensors"))
        )
        lora_job = (await stub.SubmitJob(inference_pb2.SubmitJobRequest(spec=no_lora))).job
        upstream_job = (await stub.SubmitJob(inference_pb2.SubmitJobRequest(spec=job_spec()))).job
        failed_lora = await wait_for_state(stub, lora_job.id, TERMINAL)
        assert failed_lora.state == inference_pb2.JOB_STATE_FAILED
        assert "LoRA weights not found" in failed_lora.error
        failed_upstream = await wait_for_state(stub, upstream_job.id, TERMINAL)
        assert failed_upstream.state == inference_pb2.JOB_STATE_FAILED
        assert (
            failed_upstream.error == "Generation failed: compliance unavailable after 2 attempts: UNAVAILABLE"
        )
        assert failed_upstream.total_steps == 2 and failed_upstream.attempts == 1


async def test_running_job_is_cancelled_at_next_step_and_timeout(data_dir: Path) -> None:
    async with running_inference(_settings(data_dir, workers=1, job_timeout_s=1.5)) as (_app, stub):
        slow = job_spec(width=1344, height=768)
        slow.prompt.preset.steps = 150
        job = (await stub.SubmitJob(inference_pb2.SubmitJobRequest(spec=slow))).job
        running = await wait_for_state(stub, job.id, {inference_pb2.JOB_STATE_IN_PROGRESS, *TERMINAL})
        assert running.state == inference_pb2.JOB_STATE_IN_PROGRESS
        await stub.CancelJob(inference_pb2.CancelJobRequest(id=job.id))
        ended = await wait_for_state(stub, job.id, TERMINAL)
        assert ended.state == inference_pb2.JOB_STATE_CANCELLED
        timed = (await stub.SubmitJob(inference_pb2.SubmitJobRequest(spec=slow))).job
        timed_out = await wait_for_state(stub, timed.id, TERMINAL, timeout=30)
        assert timed_out.state == inference_pb2.JOB_STATE_TIMED_OUT
        assert timed_out.error == "Generation timed out after 1.5 s"
        assert 0 < timed_out.step < 150
