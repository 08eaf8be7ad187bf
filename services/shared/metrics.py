"""Prometheus metrics shared by every gRPC service.

Metric names are the same in every service and carry the service name as a label, so
one dashboard covers the mesh. Each process serves its own registry on
``metrics_port``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from services.shared.logging import get_logger

log = get_logger(__name__)

GRPC_REQUESTS = Counter(
    "imgen_grpc_requests_total",
    "gRPC calls handled, by method and status code.",
    ["service", "method", "code"],
)
GRPC_LATENCY = Histogram(
    "imgen_grpc_request_seconds",
    "Time to handle a gRPC call, by method.",
    ["service", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
JOB_QUEUE_DEPTH = Gauge(
    "imgen_job_queue_depth",
    "Jobs in the store waiting (IN_QUEUE) or running (IN_PROGRESS); what autoscaling reads.",
    ["state"],
)
JOB_STAGE_SECONDS = Histogram(
    "imgen_job_stage_seconds",
    "Time a job spends in one stage of the worker (denoise, review, finalize, store, complete), by outcome.",
    ["stage", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
JOB_QUEUE_WAIT_SECONDS = Histogram(
    "imgen_job_queue_wait_seconds",
    "Time from a job's submission to its first claim by a worker (a retried job is not counted again).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)


def start_metrics_server(host: str, port: int) -> None:
    """Serve /metrics on ``host:port`` from a daemon thread; port 0 disables it."""
    if port:
        start_http_server(port, addr=host)


async def track_queue_depth(count: Callable[[str], int], states: Iterable[str], interval_s: float) -> None:
    """Refresh :data:`JOB_QUEUE_DEPTH` from ``count(state)`` every ``interval_s`` until cancelled.

    Counting is a database query, so it runs in a thread and at a slow pace rather than
    on every scrape; a failed count keeps the last value and is retried next round.
    """
    wanted = list(states)
    while True:
        for state in wanted:
            try:
                JOB_QUEUE_DEPTH.labels(state).set(await asyncio.to_thread(count, state))
            except Exception as exc:  # the store may be briefly unreachable; the gauge stays stale
                log.warning("queue depth not refreshed", state=state, error=str(exc))
        await asyncio.sleep(interval_s)
