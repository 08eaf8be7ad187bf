"""InferenceService while its job database is down: UNAVAILABLE that says so, and recovery.

The servicer runs behind the shared interceptor on a real gRPC server. Its store points
at a PostgreSQL port nobody listens on (connection refused, as during a restart), or at a
SQLite path that cannot be opened until the test clears it.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest

from imgen.inference.v1 import inference_pb2, inference_pb2_grpc
from services.inference.jobs.store import JobStore, sqlite_url
from services.inference.servicer import InferenceServicer
from services.shared.interceptors import ServerInterceptor
from tests.inference.helpers import job_spec

JOB_ID = "run_aaaaaaaaaaaaaaaaaaaa"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def serving(store: JobStore) -> AsyncIterator[inference_pb2_grpc.InferenceServiceStub]:
    server = grpc.aio.server(interceptors=[ServerInterceptor("inference")])
    inference_pb2_grpc.add_InferenceServiceServicer_to_server(InferenceServicer(store), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield inference_pb2_grpc.InferenceServiceStub(channel)
    finally:
        await server.stop(0)
        store.close()


def _trailing(error: grpc.aio.AioRpcError) -> dict[str, str]:
    return {str(key): str(value) for key, value in error.trailing_metadata() or ()}


def _assert_store_unavailable(error: grpc.aio.AioRpcError) -> None:
    assert error.code() is grpc.StatusCode.UNAVAILABLE, (error.code(), error.details())
    assert error.details() == "job store unavailable"
    trailing = _trailing(error)
    assert trailing["imgen-unavailable"] == "dependency"
    assert trailing["imgen-dependency"] == "job store"
    assert int(trailing["retry-after-s"]) >= 1


Call = Callable[[inference_pb2_grpc.InferenceServiceStub], object]

CALLS: dict[str, Call] = {
    "GetJob": lambda stub: stub.GetJob(inference_pb2.GetJobRequest(id=JOB_ID), timeout=10),
    "CancelJob": lambda stub: stub.CancelJob(inference_pb2.CancelJobRequest(id=JOB_ID), timeout=10),
    "SubmitJob": lambda stub: stub.SubmitJob(inference_pb2.SubmitJobRequest(spec=job_spec()), timeout=10),
    "ListJobs": lambda stub: stub.ListJobs(inference_pb2.ListJobsRequest(), timeout=10),
}


@pytest.mark.parametrize("rpc", sorted(CALLS))
async def test_unreachable_postgres_is_unavailable_with_metadata(rpc: str) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/jobs?connect_timeout=2"
    async with serving(JobStore(url)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as outage:
            await CALLS[rpc](stub)  # type: ignore[misc]
    _assert_store_unavailable(outage.value)


async def test_bad_ids_are_still_refused_without_touching_the_store() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/jobs?connect_timeout=2"
    async with serving(JobStore(url)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.GetJob(inference_pb2.GetJobRequest(id="nope"), timeout=10)
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_recovers_once_the_database_is_back(tmp_path: Path) -> None:
    """The same servicer and engine answer again after the outage; nothing is restarted."""
    database = tmp_path / "jobs.sqlite3"
    database.mkdir()  # a directory where the file should be: SQLite cannot open it
    store = JobStore(sqlite_url(database))
    async with serving(store) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as outage:
            await stub.GetJob(inference_pb2.GetJobRequest(id=JOB_ID), timeout=10)
        _assert_store_unavailable(outage.value)

        database.rmdir()
        store.create_schema()
        submitted = (await stub.SubmitJob(inference_pb2.SubmitJobRequest(spec=job_spec()), timeout=10)).job
        polled = (await stub.GetJob(inference_pb2.GetJobRequest(id=submitted.id), timeout=10)).job
        assert polled.state == inference_pb2.JOB_STATE_IN_QUEUE
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetJob(inference_pb2.GetJobRequest(id=JOB_ID), timeout=10)
        assert missing.value.code() is grpc.StatusCode.NOT_FOUND
