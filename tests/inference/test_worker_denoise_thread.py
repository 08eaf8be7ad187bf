"""The worker's own denoise thread: every run on one thread, and it outlives a restarted loop.

The runtime restarts a worker loop that ended on an error (a database outage); the
thread must still take work afterwards, or every later job fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

import pytest

from services.inference import migrate
from services.inference.denoise import DenoiseRequest
from services.inference.jobs.store import JobStore, sqlite_url
from services.inference.models import ModelRegistry, choose_device
from services.inference.tiny_model import BUILTIN_PREFIX, TINY_MODEL_NAME
from services.inference.worker import JobControl, Upstreams, Worker, WorkerConfig

pytestmark = pytest.mark.asyncio


def small_request(seed: int) -> DenoiseRequest:
    return DenoiseRequest(BUILTIN_PREFIX + TINY_MODEL_NAME, "a lighthouse", "", 128, 128, 1, 5.0, seed)


async def test_denoise_thread_is_one_thread_and_survives_a_restarted_loop(tmp_path: Path) -> None:
    store = JobStore(sqlite_url(tmp_path / "jobs.sqlite3"))
    migrate.upgrade(store)
    registry = ModelRegistry(tmp_path, placement=choose_device("cpu"), max_resident=1)
    worker = Worker(store, registry, Upstreams(None, None, None), WorkerConfig(poll_interval_s=0.05))
    seen: list[int] = []

    def progress(step: int, total: int) -> None:
        seen.append(threading.get_ident())

    async def one(seed: int) -> None:
        control = JobControl(f"job-{seed}", deadline=float("inf"))
        control.on_progress = progress  # type: ignore[method-assign]
        image = await worker._denoise(small_request(seed), control)
        assert (image.width, image.height) == (128, 128)

    await one(1)
    loop_task = asyncio.create_task(worker.run_forever())
    await asyncio.sleep(0.2)  # idle rounds on the empty queue
    loop_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loop_task
    await one(2)  # after the loop ended, as after a restart by the runtime
    assert len(set(seen)) == 1, "every denoise step of every job ran on the worker's one thread"
    assert threading.get_ident() not in seen
    store.close()
