"""The prompt service running in-process on a free port, for tests and the benchmark."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc

from imgen.prompt.v1 import prompt_pb2_grpc
from services.prompt.main import SERVICE_NAMES, Settings, build_runtime
from tests.in_process import serving


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
) -> AsyncIterator[tuple[prompt_pb2_grpc.PromptServiceStub, grpc.aio.Channel]]:
    """The prompt service serving on a free port, a stub connected to it, and its channel."""
    async with serving(build_runtime(settings), list(SERVICE_NAMES)) as channel:
        yield prompt_pb2_grpc.PromptServiceStub(channel), channel
