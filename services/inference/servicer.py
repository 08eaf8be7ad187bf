"""gRPC glue for InferenceService: messages in, store calls (in a thread), messages out."""

from __future__ import annotations

import asyncio
import base64
import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import ParamSpec, TypeVar

import grpc
from sqlalchemy.exc import DBAPIError, OperationalError

from imgen.inference.v1 import inference_pb2, inference_pb2_grpc
from services.inference.jobs.ids import is_job_id
from services.inference.jobs.states import IllegalTransition, JobState
from services.inference.jobs.store import JobNotFound, JobRecord, JobStore
from services.inference.messages import job_message
from services.shared.errors import DependencyUnavailable, FailedPrecondition, InvalidArgument, NotFound
from services.shared.logging import get_logger

log = get_logger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _is_connection_failure(exc: DBAPIError) -> bool:
    """An unreachable or restarting database, as opposed to a bug in a query or a broken row.

    ``OperationalError`` is what drivers raise for refused/closed connections (and SQLite
    for a locked or unopenable file); any other driver error counts only when SQLAlchemy
    saw the connection die under it.
    """
    return isinstance(exc, OperationalError) or exc.connection_invalidated


def store_reachable(rpc: Callable[_P, Awaitable[_R]]) -> Callable[_P, Awaitable[_R]]:
    """Answer UNAVAILABLE with :class:`DependencyUnavailable` while the job database is down.

    The service itself is fine then and recovers on its own once the database is back
    (the engine's pool reconnects), so callers get a retryable error rather than INTERNAL.
    """

    @functools.wraps(rpc)
    async def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await rpc(*args, **kwargs)
        except DBAPIError as exc:
            if not _is_connection_failure(exc):
                raise
            # The driver's own message (never the URL, so no password) tells operators why.
            log.warning(
                "job store unavailable", rpc=rpc.__name__, error=type(exc.orig).__name__, detail=str(exc.orig)
            )
            raise DependencyUnavailable("job store") from exc

    return guarded


class InferenceServicer(inference_pb2_grpc.InferenceServiceServicer):
    """SubmitJob, GetJob, CancelJob over a :class:`JobStore`.

    ``on_submitted`` wakes local workers at once instead of at their next poll;
    ``on_cancelled`` stops a local running job at its next step without waiting for a
    heartbeat.
    """

    def __init__(
        self,
        store: JobStore,
        *,
        on_submitted: Callable[[], None] = lambda: None,
        on_cancelled: Callable[[str], None] = lambda _job_id: None,
    ) -> None:
        self._store = store
        self._on_submitted = on_submitted
        self._on_cancelled = on_cancelled

    @store_reachable
    async def SubmitJob(
        self, request: inference_pb2.SubmitJobRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.SubmitJobResponse:
        if not request.HasField("spec"):
            raise InvalidArgument("spec is required")
        blocked = request.HasField("prompt_verdict") and request.prompt_verdict.blocked
        if not blocked and not request.spec.prompt.preset.model_source:
            raise InvalidArgument("spec.prompt.preset.model_source is required")
        record = await asyncio.to_thread(
            self._store.submit,
            request.spec.SerializeToString(),
            request.prompt_verdict.SerializeToString() if request.HasField("prompt_verdict") else b"",
            blocked=blocked,
        )
        if record.state is JobState.IN_QUEUE:
            self._on_submitted()
        return inference_pb2.SubmitJobResponse(job=await self._message(record))

    @store_reachable
    async def GetJob(
        self, request: inference_pb2.GetJobRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.GetJobResponse:
        record = await self._get(request.id)
        return inference_pb2.GetJobResponse(job=await self._message(record))

    @store_reachable
    async def CancelJob(
        self, request: inference_pb2.CancelJobRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.CancelJobResponse:
        await self._get(request.id)
        try:
            record = await asyncio.to_thread(self._store.cancel, request.id)
        except IllegalTransition as exc:
            current = (await self._get(request.id)).state.value
            raise FailedPrecondition(f"job already ended ({current})") from exc
        self._on_cancelled(request.id)
        return inference_pb2.CancelJobResponse(job=await self._message(record))

    @store_reachable
    async def ListJobs(
        self, request: inference_pb2.ListJobsRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.ListJobsResponse:
        """Newest first; key and model live in the serialized spec, so they filter here.

        A page scans at most ``20 * page_size`` rows; when filters leave it short, the
        token still moves past what was scanned, so a deep filter never runs unbounded.
        """
        from services.inference.messages import STATE_TO_PROTO

        page_size = min(request.page_size or 50, 200)
        proto_to_state = {number: state for state, number in STATE_TO_PROTO.items()}
        states = [proto_to_state[s] for s in request.states if s in proto_to_state]
        before: tuple[datetime, str] | None = None
        if request.page_token:
            try:
                created, _, last_id = base64.urlsafe_b64decode(request.page_token).decode().partition("|")
                before = (datetime.fromisoformat(created), last_id)
            except ValueError as exc:
                raise InvalidArgument("bad page_token") from exc
        jobs: list[inference_pb2.Job] = []
        scanned, more = 0, True
        while len(jobs) < page_size and scanned < 20 * page_size and more:
            batch = await asyncio.to_thread(self._store.list_page, states, before, page_size)
            more = len(batch) == page_size
            for record in batch:
                scanned += 1
                before = (record.created_at, record.id)
                spec = inference_pb2.JobSpec.FromString(record.spec)
                if request.api_key_id and spec.api_key_id != request.api_key_id:
                    continue
                if request.model and spec.prompt.model != request.model:
                    continue
                jobs.append(await self._message(record))
                if len(jobs) == page_size:
                    more = more or record is not batch[-1]
                    break
        token = ""
        if more and before is not None:
            token = base64.urlsafe_b64encode(f"{before[0].isoformat()}|{before[1]}".encode()).decode()
        return inference_pb2.ListJobsResponse(jobs=jobs, next_page_token=token)

    async def _get(self, job_id: str) -> JobRecord:
        if not is_job_id(job_id):
            raise InvalidArgument("Bad ID")
        try:
            return await asyncio.to_thread(self._store.get, job_id)
        except JobNotFound as exc:
            raise NotFound("Bad ID") from exc

    async def _message(self, record: JobRecord) -> inference_pb2.Job:
        position = 0
        if record.state is JobState.IN_QUEUE:
            try:
                position = await asyncio.to_thread(self._store.queue_position, record.id)
            except JobNotFound:
                position = 0
        return job_message(record, position)
