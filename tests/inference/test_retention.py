"""Retention: ended jobs and their objects expire, through the real storage service."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from imgen.storage.v1 import storage_pb2, storage_pb2_grpc
from services.inference.jobs.states import JobState
from services.inference.jobs.store import JobStore
from services.inference.retention import generation_prefix, sweep
from services.storage import main as storage_main
from tests.inference.conftest import FakeClock
from tests.inference.helpers import wait_serving

PREFIX = "images"
DAY = 86_400.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def _storage(data_dir: Path) -> AsyncIterator[Any]:
    port = _free_port()
    settings = storage_main.Settings(port=port, data_dir=data_dir, log_format="json")
    task = asyncio.create_task(storage_main.serve(settings))
    try:
        await wait_serving(f"127.0.0.1:{port}", timeout=60)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield storage_pb2_grpc.StorageServiceStub(channel)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _finished_job_with_files(
    store: JobStore, storage: Any, *, state: JobState
) -> tuple[str, list[str]]:
    job = store.submit(b"spec")
    store.claim_next("w1", 60)
    if state is JobState.COMPLETED:
        store.complete(job.id, "w1", result=b"", compliance="safe")
    else:
        store.fail(job.id, "w1", "Generation failed: test")
    prefix = generation_prefix(PREFIX, job.created_at, job.gen_id)
    keys = [f"{prefix}{job.gen_id}_00001.jpg", f"{prefix}{job.gen_id}_00001_thumb.jpg"]
    for key in keys:
        await storage.PutObject(
            storage_pb2.PutObjectRequest(key=key, data=b"x" * 10, content_type="image/jpeg")
        )
    return job.id, keys


async def test_expired_jobs_and_their_objects_are_removed(
    store: JobStore, clock: FakeClock, tmp_path: Path
) -> None:
    objects = tmp_path / "storage" / "objects"
    async with _storage(tmp_path / "storage") as storage:
        old_done, old_keys = await _finished_job_with_files(store, storage, state=JobState.COMPLETED)
        old_failed, failed_keys = await _finished_job_with_files(store, storage, state=JobState.FAILED)
        clock.advance(DAY)
        fresh, fresh_keys = await _finished_job_with_files(store, storage, state=JobState.COMPLETED)
        queued = store.submit(b"still waiting").id
        clock.advance(DAY / 2)

        kept_forever = await sweep(store, storage, retention_s=0, object_prefix=PREFIX, now=clock.now)
        assert kept_forever.jobs == [] and store.get(old_done).state is JobState.COMPLETED

        report = await sweep(store, storage, retention_s=DAY, object_prefix=PREFIX, now=clock.now)
        assert sorted(report.jobs) == sorted([old_done, old_failed])
        assert report.objects == 4 and report.kept == []
        for key in [*old_keys, *failed_keys]:
            assert not (objects / key).exists(), key
        for key in fresh_keys:
            assert (objects / key).is_file(), key
        assert store.get(fresh).state is JobState.COMPLETED
        assert store.get(queued).state is JobState.IN_QUEUE
        assert len(store.finished_before(clock.now)) == 1

        again = await sweep(store, storage, retention_s=DAY, object_prefix=PREFIX, now=clock.now)
        assert again.jobs == [] and again.objects == 0


async def test_job_is_kept_while_storage_is_unreachable(store: JobStore, clock: FakeClock) -> None:
    job = store.submit(b"spec")
    store.claim_next("w1", 60)
    store.complete(job.id, "w1", result=b"", compliance="safe")
    clock.advance(DAY * 2)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{_free_port()}") as channel:
        storage = storage_pb2_grpc.StorageServiceStub(channel)
        report = await sweep(
            store, storage, retention_s=DAY, object_prefix=PREFIX, now=clock.now, call_timeout_s=1.0
        )
    assert report.jobs == [] and report.kept == [job.id]
    assert store.get(job.id).state is JobState.COMPLETED
