"""Retention: ended jobs and their stored images expire after ``retention_s``.

Objects go first, through ``StorageService.DeleteObjects`` with the generation's key
prefix (``{object_prefix}/{YYYY}/{MM}/{DD}/{gen_id}/``), then the job row; if the
storage call fails the row stays and the next sweep tries again, so no image is left
behind without a job pointing at it. Every replica may sweep: deletes are idempotent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import grpc

from imgen.storage.v1 import storage_pb2
from services.inference.job_spec import object_key
from services.inference.jobs.store import JobStore, utc_now
from services.shared.logging import get_logger

log = get_logger(__name__)

SWEEP_BATCH = 100


@dataclass(frozen=True)
class SweepReport:
    """What one sweep removed: job ids, objects deleted, and jobs left for the next sweep."""

    jobs: list[str]
    objects: int
    kept: list[str]


def generation_prefix(object_prefix: str, created_at: datetime, gen_id: str) -> str:
    """The key prefix under which every file of one generation is stored (trailing slash)."""
    return object_key(object_prefix, created_at, gen_id, "")


async def sweep(
    store: JobStore,
    storage: Any,
    *,
    retention_s: float,
    object_prefix: str,
    now: datetime | None = None,
    call_timeout_s: float = 30.0,
) -> SweepReport:
    """Delete ended jobs older than ``retention_s`` and their objects; 0 keeps everything."""
    if retention_s <= 0:
        return SweepReport([], 0, [])
    cutoff = (now or utc_now()) - timedelta(seconds=retention_s)
    removed: list[str] = []
    kept: list[str] = []
    objects = 0
    while True:
        expired = await asyncio.to_thread(store.finished_before, cutoff, SWEEP_BATCH)
        expired = [record for record in expired if record.id not in kept]
        if not expired:
            break
        for record in expired:
            prefix = generation_prefix(object_prefix, record.created_at, record.gen_id)
            try:
                reply = await storage.DeleteObjects(
                    storage_pb2.DeleteObjectsRequest(prefix=prefix), timeout=call_timeout_s
                )
            except grpc.aio.AioRpcError as exc:
                log.warning(
                    "retention: objects not deleted; job kept", job_id=record.id, code=exc.code().name
                )
                kept.append(record.id)
                continue
            objects += reply.deleted
            if await asyncio.to_thread(store.delete_finished, record.id):
                removed.append(record.id)
    return SweepReport(removed, objects, kept)
