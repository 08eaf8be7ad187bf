"""The async worker: claim a job, denoise it in a thread, then review, finalize and store it.

The event loop never blocks: the store is called through ``asyncio.to_thread`` and the
diffusion run happens in a thread, so the same process keeps answering GetJob while a
job runs.

The worker is a two-stage pipeline: once job N is denoised, its delivery (compliance →
provenance → storage → complete) continues as an asyncio task while the loop claims and
denoises job N+1, so the accelerator does not sit idle during network calls. At most
``max_in_flight`` jobs are held at once (one denoising, the rest delivering); each keeps
its lease by heartbeat until it ends.

A running job carries a :class:`JobControl` that the progress hook checks at every
step; it trips when the job is cancelled (locally at once, or by another replica
through the store, seen at the next heartbeat), when the lease was lost, or when the
execution timeout passes.

Upstream calls (compliance, provenance, storage) are retried with backoff on transient
gRPC errors; once the retries are spent the job FAILS with a clear error, which the
gateway shows as "Generation failed".
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import grpc

from imgen.common.v1 import image_pb2
from imgen.compliance.v1 import compliance_pb2
from imgen.inference.v1 import inference_pb2
from imgen.provenance.v1 import provenance_pb2
from imgen.storage.v1 import storage_pb2
from services.inference.denoise import DenoisedImage, DenoiseRequest, DenoiseStopped, denoise
from services.inference.job_spec import SIGNED, THUMBNAIL, denoise_request, file_name, object_key
from services.inference.jobs.states import IllegalTransition
from services.inference.jobs.store import COMPLIANCE_SAFE, COMPLIANCE_UNSAFE, JobRecord, JobStore, LeaseLost
from services.inference.models import ModelRegistry, ModelUnavailable
from services.shared.logging import get_logger
from services.shared.metrics import JOB_QUEUE_WAIT_SECONDS
from services.shared.stages import job_stage

log = get_logger(__name__)

T = TypeVar("T")

RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
    }
)
CANCELLED = "cancelled"
TIMED_OUT = "timed_out"
LEASE_LOST = "lease_lost"


def observe_queue_wait(record: JobRecord) -> None:
    """Record how long a freshly claimed job waited in the queue (first attempts only).

    A retried job's ``started_at`` is its first start, so only the first claim measures
    the queue; both timestamps come from the store's clock.
    """
    if record.attempts == 1 and record.started_at is not None:
        JOB_QUEUE_WAIT_SECONDS.observe(max(0.0, (record.started_at - record.created_at).total_seconds()))


def new_worker_id(index: int = 0) -> str:
    """A worker id unique across hosts and restarts: host, pid, index, random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{index}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker paces and bounds its jobs."""

    lease_s: float = 60.0
    heartbeat_s: float = 2.0
    job_timeout_s: float = 300.0
    poll_interval_s: float = 0.5
    object_prefix: str = "images"
    default_steps: int = 4
    upstream_attempts: int = 3
    upstream_backoff_s: float = 0.5
    #: Jobs held at once: one denoising plus deliveries still running (1 = no overlap).
    max_in_flight: int = 2


@dataclass
class Upstreams:
    """The gRPC stubs a worker calls after denoising."""

    compliance: Any
    provenance: Any
    storage: Any


class UpstreamFailed(Exception):
    """An upstream service kept failing, or refused the request outright."""


@dataclass
class JobControl:
    """Shared between the event loop and the denoising thread of one running job."""

    job_id: str
    deadline: float
    step: int = 0
    total_steps: int = 0
    _stop_reason: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def stop(self, reason: str) -> None:
        """Ask the run to end at its next step (first reason wins)."""
        with self._lock:
            if self._stop_reason is None:
                self._stop_reason = reason

    @property
    def stop_reason(self) -> str | None:
        """Why the job must end early, or None; also trips on the deadline."""
        if self._stop_reason is None and time.monotonic() >= self.deadline:
            self.stop(TIMED_OUT)
        return self._stop_reason

    def on_progress(self, step: int, total: int) -> None:
        """The denoising progress hook: records the step, raises when the job must stop."""
        self.step, self.total_steps = step, total
        reason = self.stop_reason
        if reason is not None:
            raise DenoiseStopped(reason)

    def check(self) -> None:
        """Raise :class:`DenoiseStopped` between post-processing calls when the job must stop."""
        reason = self.stop_reason
        if reason is not None:
            raise DenoiseStopped(reason)


async def call_with_retry(
    call: Callable[[], Awaitable[T]], *, what: str, attempts: int, backoff_s: float, control: JobControl
) -> T:
    """Run ``call``; retry transient gRPC errors with exponential backoff, then give up."""
    for attempt in range(1, attempts + 1):
        control.check()
        try:
            return await call()
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code not in RETRYABLE_CODES:
                raise UpstreamFailed(f"{what} refused the request: {exc.details()}") from exc
            if attempt == attempts:
                raise UpstreamFailed(f"{what} unavailable after {attempts} attempts: {code.name}") from exc
            log.warning("upstream call failed; retrying", upstream=what, code=code.name, attempt=attempt)
            await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


class Worker:
    """One worker loop; a process runs ``workers`` of them over one model registry."""

    def __init__(
        self,
        store: JobStore,
        registry: ModelRegistry,
        upstreams: Upstreams,
        config: WorkerConfig,
        *,
        worker_id: str | None = None,
        wakeup: asyncio.Event | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.upstreams = upstreams
        self.config = config
        self.worker_id = worker_id or new_worker_id()
        self.wakeup = wakeup or asyncio.Event()
        self.running: dict[str, JobControl] = {}
        self._slots = asyncio.Semaphore(max(1, config.max_in_flight))
        self._deliveries: set[asyncio.Task[None]] = set()
        # Every denoise of this worker on one long-lived thread, not on whichever thread of
        # the shared pool is free: each new thread that calls torch grows its own OpenMP team
        # and starts with cold per-thread caches, which measured 15-25% slower per image.
        self._torch_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="denoise")

    async def run_forever(self) -> None:
        """Claim and run jobs until cancelled; a cancelled worker hands its jobs back."""
        log.info("worker started", worker=self.worker_id)
        try:
            while True:
                ran = await self.run_once()
                if not ran:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wakeup.wait(), self.config.poll_interval_s)
                    self.wakeup.clear()
        finally:
            for task in list(self._deliveries):
                task.cancel()
            await asyncio.gather(*self._deliveries, return_exceptions=True)
            # The denoise thread stays: the runtime restarts this loop after a failure (a
            # database outage), and an idle pool thread ends with the process.

    async def drain(self) -> None:
        """Wait until every delivery started so far has ended."""
        while self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)

    def cancel_local(self, job_id: str) -> None:
        """Stop a job this worker runs right away (the store already says CANCELLED)."""
        control = self.running.get(job_id)
        if control is not None:
            control.stop(CANCELLED)

    async def run_once(self) -> bool:
        """Claim one job and denoise it; False when the queue was empty.

        Its delivery continues as a task (see :meth:`drain`), so this returns as soon
        as the pixels exist and the caller can claim the next job meanwhile.
        """
        await self._slots.acquire()
        try:
            record = await asyncio.to_thread(self.store.claim_next, self.worker_id, self.config.lease_s)
        except BaseException:
            self._slots.release()
            raise
        if record is None:
            self._slots.release()
            return False
        observe_queue_wait(record)
        control = JobControl(record.id, deadline=time.monotonic() + self.config.job_timeout_s)
        self.running[record.id] = control
        heartbeat = asyncio.create_task(self._heartbeat(control))
        handed_off = False
        try:
            denoised = await self._settle(record, control, self._denoise_job(record, control))
            if denoised is not None:
                spec, image = denoised
                task = asyncio.create_task(self._deliver_job(record, spec, image, control, heartbeat))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)
                handed_off = True
        except asyncio.CancelledError:
            await self._hand_back(record, control)
            raise
        finally:
            if not handed_off:
                await self._let_go(record, heartbeat)
        return True

    async def _hand_back(self, record: JobRecord, control: JobControl) -> None:
        """Shutdown mid-job: stop it and return it to the queue for another worker."""
        control.stop(CANCELLED)
        with contextlib.suppress(LeaseLost, IllegalTransition):
            await asyncio.to_thread(self.store.release, record.id, self.worker_id)

    async def _let_go(self, record: JobRecord, heartbeat: asyncio.Task[None]) -> None:
        """The job ended here (or was handed back): stop its heartbeat and free its slot."""
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        self.running.pop(record.id, None)
        self._slots.release()

    async def _heartbeat(self, control: JobControl) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_s)
            owned = await asyncio.to_thread(
                self.store.heartbeat,
                control.job_id,
                self.worker_id,
                self.config.lease_s,
                control.step,
                control.total_steps,
            )
            if not owned:
                control.stop(LEASE_LOST)
                return

    async def _denoise_job(
        self, record: JobRecord, control: JobControl
    ) -> tuple[inference_pb2.JobSpec, DenoisedImage]:
        spec = inference_pb2.JobSpec.FromString(record.spec)
        started = time.perf_counter()
        request = denoise_request(spec, default_steps=self.config.default_steps)
        control.total_steps = request.steps
        with job_stage("denoise", spec.traceparent):
            image = await self._denoise(request, control)
        log.info(
            "denoised",
            job_id=record.id,
            seconds=round(time.perf_counter() - started, 3),
            steps=request.steps,
        )
        return spec, image

    async def _deliver_job(
        self,
        record: JobRecord,
        spec: inference_pb2.JobSpec,
        image: DenoisedImage,
        control: JobControl,
        heartbeat: asyncio.Task[None],
    ) -> None:
        try:
            remaining = max(0.0, control.deadline - time.monotonic())
            await self._settle(record, control, self._deliver_within(record, spec, image, control, remaining))
        except asyncio.CancelledError:
            await self._hand_back(record, control)
            raise
        finally:
            await self._let_go(record, heartbeat)

    async def _deliver_within(
        self,
        record: JobRecord,
        spec: inference_pb2.JobSpec,
        image: DenoisedImage,
        control: JobControl,
        seconds: float,
    ) -> None:
        try:
            await asyncio.wait_for(self._deliver(record, spec, image, control), seconds)
        except TimeoutError:
            raise DenoiseStopped(TIMED_OUT) from None
        log.info("completed", job_id=record.id, gen_id=record.gen_id, worker=self.worker_id)

    async def _settle(self, record: JobRecord, control: JobControl, stage: Awaitable[T]) -> T | None:
        """Run one stage of a job; on any failure write the job's end and return None."""
        bound = log.bind(job_id=record.id, gen_id=record.gen_id, attempt=record.attempts)
        try:
            return await stage
        except DenoiseStopped as stopped:
            await self._stopped(record, control, stopped.reason, bound)
        except (ModelUnavailable, UpstreamFailed) as exc:
            bound.warning("job failed", error=str(exc))
            await self._finish(
                self.store.fail,
                record.id,
                self.worker_id,
                f"Generation failed: {exc}",
                progress=(control.step, control.total_steps),
            )
        except (LeaseLost, IllegalTransition) as exc:
            bound.info("job left this worker", reason=str(exc))
        except Exception as exc:
            bound.exception("job crashed")
            await self._finish(
                self.store.fail, record.id, self.worker_id, f"Generation failed: {type(exc).__name__}"
            )
        return None

    async def _denoise(self, request: DenoiseRequest, control: JobControl) -> DenoisedImage:
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            self._torch_thread, context.run, denoise, self.registry, request, control.on_progress
        )

    async def _stopped(self, record: JobRecord, control: JobControl, reason: str, bound: Any) -> None:
        bound.info("job stopped", reason=reason)
        if reason == TIMED_OUT:
            await self._finish(
                self.store.fail,
                record.id,
                self.worker_id,
                f"Generation timed out after {self.config.job_timeout_s:g} s",
                timed_out=True,
                progress=(control.step, control.total_steps),
            )
        # Cancelled or lease lost: the store already moved the job on; nothing to write.

    async def _finish(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        try:
            await asyncio.to_thread(method, *args, **kwargs)
        except (LeaseLost, IllegalTransition) as exc:
            log.info("job ended elsewhere; result discarded", reason=str(exc))

    async def _deliver(
        self, record: JobRecord, spec: inference_pb2.JobSpec, image: DenoisedImage, control: JobControl
    ) -> str:
        """Review, finalize and store the image; returns "completed" or "blocked"."""
        raw = image_pb2.RawImage(width=image.width, height=image.height, rgb=image.rgb)
        review_request = compliance_pb2.ReviewImageRequest(model=spec.prompt.model, image=raw)
        with job_stage("review", spec.traceparent):
            review = await self._upstream(
                "compliance", control, lambda: self.upstreams.compliance.ReviewImage(review_request)
            )
        verdict = review.verdict
        if verdict.blocked:
            control.check()
            await asyncio.to_thread(
                self.store.complete,
                record.id,
                self.worker_id,
                result=b"",
                compliance=COMPLIANCE_UNSAFE,
                image_verdict=verdict.SerializeToString(),
                progress=(control.step, control.total_steps),
            )
            return "blocked"
        finalize_request = self._finalize_request(record, spec, raw)
        with job_stage("finalize", spec.traceparent):
            finalized = await self._upstream(
                "provenance", control, lambda: self.upstreams.provenance.Finalize(finalize_request)
            )
        stored = []
        with job_stage("store", spec.traceparent):
            for kind, encoded in ((SIGNED, finalized.image), (THUMBNAIL, finalized.thumbnail)):
                if not encoded.data:
                    continue
                name = file_name(
                    record.gen_id, finalized.fingerprint, 1, encoded.extension, thumbnail=kind == THUMBNAIL
                )
                key = object_key(self.config.object_prefix, record.created_at, record.gen_id, name)
                put_request = storage_pb2.PutObjectRequest(
                    key=key, data=encoded.data, content_type=encoded.mime_type
                )
                put: storage_pb2.PutObjectResponse = await self._upstream(
                    "storage", control, partial(self.upstreams.storage.PutObject, put_request)
                )
                stored.append(
                    inference_pb2.StoredImage(
                        key=put.key or key,
                        filename=name,
                        type=kind,
                        mime_type=encoded.mime_type,
                        size=put.size,
                    )
                )
        result = inference_pb2.JobResult(
            fingerprint=finalized.fingerprint,
            fingerprint_quality=finalized.fingerprint_quality,
            watermark_payload=finalized.watermark_payload,
            credentials=finalized.credentials,
            images=stored,
            notes=[*spec.prompt.notes, *finalized.notes],
        )
        control.check()
        with job_stage("complete", spec.traceparent):
            await asyncio.to_thread(
                self.store.complete,
                record.id,
                self.worker_id,
                result=result.SerializeToString(),
                compliance=COMPLIANCE_SAFE,
                image_verdict=verdict.SerializeToString(),
                progress=(control.step, control.total_steps),
            )
        return "completed"

    async def _upstream(self, what: str, control: JobControl, call: Callable[[], Awaitable[T]]) -> T:
        return await call_with_retry(
            call,
            what=what,
            attempts=self.config.upstream_attempts,
            backoff_s=self.config.upstream_backoff_s,
            control=control,
        )

    @staticmethod
    def _finalize_request(
        record: JobRecord, spec: inference_pb2.JobSpec, raw: image_pb2.RawImage
    ) -> provenance_pb2.FinalizeRequest:
        return provenance_pb2.FinalizeRequest(
            image=raw,
            job_id=record.id,
            gen_id=record.gen_id,
            format=spec.format,
            quality=spec.quality,
            lossless=spec.lossless,
            brand=spec.brand,
            credentials=spec.credentials,
            generation=provenance_pb2.GenerationInfo(
                model=spec.prompt.model, style=spec.prompt.style, seed=spec.seed
            ),
            enable_invisimark=spec.enable_invisimark,
            enable_c2pa=spec.enable_c2pa,
            compute_pdq=spec.compute_pdq,
        )
