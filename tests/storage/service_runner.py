"""The storage service running in-process on a free port, for tests and the benchmark."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from imgen.storage.v1 import storage_pb2, storage_pb2_grpc
from services.shared.server import service_name
from services.storage.main import Settings, build_runtime
from tests.in_process import serving

SERVICE = service_name(storage_pb2, "StorageService")


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[storage_pb2_grpc.StorageServiceStub]:
    """The storage service serving on a free port, and a stub connected to it."""
    runtime, _ = build_runtime(settings)
    async with serving(runtime, [SERVICE]) as channel:
        yield storage_pb2_grpc.StorageServiceStub(channel)
