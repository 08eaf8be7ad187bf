"""Entry point of the inference service: settings, job store, model registry, workers, server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import Field

from imgen.compliance.v1 import compliance_pb2_grpc
from imgen.inference.v1 import inference_pb2, inference_pb2_grpc
from imgen.provenance.v1 import provenance_pb2_grpc
from imgen.storage.v1 import storage_pb2_grpc
from services.inference import migrate, retention
from services.inference.jobs.states import JobState
from services.inference.jobs.store import JobStore, sqlite_url
from services.inference.models import ModelRegistry, choose_device
from services.inference.servicer import InferenceServicer
from services.inference.tiny_model import BUILTIN_PREFIX, TINY_MODEL_NAME
from services.inference.worker import Upstreams, Worker, WorkerConfig, new_worker_id
from services.shared.allocator import retain_freed_memory
from services.shared.channels import open_channel
from services.shared.logging import get_logger
from services.shared.metrics import track_queue_depth
from services.shared.server import ServiceRuntime, service_name
from services.shared.settings import ServiceSettings

log = get_logger(__name__)

TINY_SOURCE = BUILTIN_PREFIX + TINY_MODEL_NAME


class Settings(ServiceSettings):
    """Inference settings: section ``inference`` (``IMGEN_INFERENCE_*``)."""

    section: ClassVar[str] = "inference"

    port: int = Field(50062, description="Port of the inference gRPC listener.")
    database_url: str = Field(
        "", description="SQLAlchemy URL of the job store; empty uses SQLite at data_dir/jobs.sqlite3."
    )
    table_prefix: str = Field("", description="Prefix of the job table's name (several deployments, one DB).")
    role: Literal["all", "api", "worker"] = Field(
        "all",
        description="'api' serves InferenceService only, 'worker' runs worker loops only (no models in "
        "an API process, no job API in a worker one), 'all' both. Processes share the job database.",
    )
    workers: int = Field(1, ge=0, description="Worker loops in this process; 0 serves the API only.")
    max_in_flight: int = Field(
        2,
        ge=1,
        description="Jobs one worker loop holds at once: one denoising while the others are post-processed "
        "(compliance, provenance, storage); 1 turns the overlap off.",
    )
    migrate_on_start: bool = Field(
        True, description="Run the job store's Alembic migrations at startup (else expect them done)."
    )
    retention_s: float = Field(
        0.0,
        ge=0,
        description="Ended jobs and their stored images are deleted after this many seconds; 0 keeps.",
    )
    retention_interval_s: float = Field(
        300.0, gt=0, description="How often the retention sweep runs, seconds."
    )
    lease_s: float = Field(
        60.0, gt=0, description="Lease a worker holds on a job between heartbeats, seconds."
    )
    heartbeat_s: float = Field(2.0, gt=0, description="How often a running job renews its lease and step.")
    max_attempts: int = Field(3, ge=1, description="Times a job is tried before a lost lease fails it.")
    requeue_interval_s: float = Field(
        5.0, gt=0, description="How often expired leases are requeued, seconds."
    )
    job_timeout_s: float = Field(300.0, gt=0, description="Execution timeout of one job; past it TIMED_OUT.")
    poll_interval_s: float = Field(
        0.5, gt=0, description="Idle workers look for new jobs this often, seconds."
    )
    object_prefix: str = Field("images", description="First part of stored object keys.")
    max_resident_models: int = Field(2, ge=1, description="Pipelines kept loaded at once (LRU).")
    model_memory_budget_mb: int = Field(
        0,
        ge=0,
        description="Memory the resident pipelines may hold, MiB (weights and buffers on the device; the "
        "least recently used are evicted past it; 0 = no budget, only max_resident_models).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="'auto' (CUDA fp16 when available, else CPU fp32), 'cpu' or 'cuda'."
    )
    default_steps: int = Field(4, ge=1, description="Denoising steps when a style's preset names none.")
    preload_models: list[str] = Field(
        default_factory=lambda: [TINY_SOURCE],
        description="Model sources loaded (and built, for builtin ones) before the service is SERVING.",
    )
    upstream_attempts: int = Field(3, ge=1, description="Tries per compliance/provenance/storage call.")
    upstream_backoff_s: float = Field(0.5, ge=0, description="First retry delay of upstream calls; doubles.")
    torch_threads: int = Field(0, ge=0, description="torch intra-op threads on CPU; 0 keeps torch's default.")
    retain_freed_memory: bool = Field(
        True,
        description="Worker processes keep freed heap memory for the next job instead of returning it to "
        "the kernel (glibc only): no page faults on the activations of every denoise step, so a CPU denoise "
        "runs faster, at the price of keeping the peak heap. Not applied in the API role.",
    )

    def store_url(self) -> str:
        """The job store's URL with the SQLite default filled in."""
        return self.database_url or sqlite_url(self.data_dir / "jobs.sqlite3")

    def worker_config(self) -> WorkerConfig:
        """The worker's pacing and limits from these settings."""
        return WorkerConfig(
            lease_s=self.lease_s,
            heartbeat_s=min(self.heartbeat_s, self.lease_s / 3),
            job_timeout_s=self.job_timeout_s,
            poll_interval_s=self.poll_interval_s,
            object_prefix=self.object_prefix,
            default_steps=self.default_steps,
            upstream_attempts=self.upstream_attempts,
            upstream_backoff_s=self.upstream_backoff_s,
            max_in_flight=self.max_in_flight,
        )

    @property
    def worker_loops(self) -> int:
        """Worker loops this process runs: none in the API role."""
        return 0 if self.role == "api" else self.workers

    @property
    def serves_api(self) -> bool:
        """Whether this process registers InferenceService."""
        return self.role != "worker"

    def service_names(self) -> list[str]:
        """The gRPC services this process reports in health and reflection."""
        return [service_name(inference_pb2, "InferenceService")] if self.serves_api else []


@dataclass
class InferenceApp:
    """What :func:`build_runtime` assembles; tests reach into it."""

    runtime: ServiceRuntime
    store: JobStore
    registry: ModelRegistry
    workers: list[Worker]


def build_runtime(settings: Settings) -> InferenceApp:
    """A runtime with the servicer, workers, requeue task and model preload registered."""
    runtime = ServiceRuntime("inference", settings)
    store = JobStore(settings.store_url(), table_prefix=settings.table_prefix)
    registry = ModelRegistry(
        settings.data_dir,
        placement=choose_device(settings.device),
        max_resident=settings.max_resident_models,
        memory_budget_bytes=settings.model_memory_budget_mb * 1024 * 1024,
    )
    channels = [
        open_channel(settings.compliance_addr, settings),
        open_channel(settings.provenance_addr, settings),
        open_channel(settings.storage_addr, settings),
    ]
    upstreams = Upstreams(
        compliance=compliance_pb2_grpc.ComplianceServiceStub(channels[0]),
        provenance=provenance_pb2_grpc.ProvenanceServiceStub(channels[1]),
        storage=storage_pb2_grpc.StorageServiceStub(channels[2]),
    )
    wakeup = asyncio.Event()
    config = settings.worker_config()
    workers = [
        Worker(store, registry, upstreams, config, worker_id=new_worker_id(index), wakeup=wakeup)
        for index in range(settings.worker_loops)
    ]

    def wake_workers() -> None:
        wakeup.set()

    def cancel_locally(job_id: str) -> None:
        for worker in workers:
            worker.cancel_local(job_id)

    servicer = InferenceServicer(store, on_submitted=wake_workers, on_cancelled=cancel_locally)
    if settings.serves_api:
        inference_pb2_grpc.add_InferenceServiceServicer_to_server(servicer, runtime.server)

    async def prepare() -> None:
        if settings.torch_threads:
            import torch

            torch.set_num_threads(settings.torch_threads)
        if settings.migrate_on_start:
            revision = await asyncio.to_thread(migrate.upgrade, store, settings.table_prefix)
            log.info("job store migrated", revision=revision)
        for source in settings.preload_models if workers else []:
            await asyncio.to_thread(registry.get, source)
            log.info("model ready", source=source)

    async def requeue_expired() -> None:
        while True:
            report = await asyncio.to_thread(store.requeue_expired, settings.max_attempts)
            if report.requeued or report.failed:
                log.warning("expired leases", requeued=report.requeued, failed=report.failed)
            await asyncio.sleep(settings.requeue_interval_s)

    async def close() -> None:
        for channel in channels:
            await channel.close()
        store.close()

    runtime.on_startup(prepare)
    runtime.background(requeue_expired)

    async def expire_finished() -> None:
        while True:
            report = await retention.sweep(
                store,
                upstreams.storage,
                retention_s=settings.retention_s,
                object_prefix=settings.object_prefix,
                call_timeout_s=settings.call_timeout_s,
            )
            if report.jobs or report.kept:
                log.info(
                    "retention sweep", jobs=len(report.jobs), objects=report.objects, kept=len(report.kept)
                )
            await asyncio.sleep(settings.retention_interval_s)

    if settings.retention_s > 0:
        runtime.background(expire_finished)

    async def report_queue_depth() -> None:
        await track_queue_depth(
            lambda state: store.count(JobState(state)),
            [JobState.IN_QUEUE, JobState.IN_PROGRESS],
            settings.requeue_interval_s,
        )

    runtime.background(report_queue_depth)
    for worker in workers:
        runtime.background(worker.run_forever)
    runtime.on_shutdown(close)
    return InferenceApp(runtime, store, registry, workers)


async def serve(settings: Settings) -> None:
    """Run the inference service until SIGTERM/SIGINT."""
    if settings.retain_freed_memory and settings.worker_loops:
        retain_freed_memory()
    app = build_runtime(settings)
    await app.runtime.run(settings.service_names())
