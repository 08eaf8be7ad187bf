"""Prometheus metrics shared by every gRPC service.

Metric names are the same in every service and carry the service name as a label, so
one dashboard covers the mesh. Each process serves its own registry on
``metrics_port``.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

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


def start_metrics_server(host: str, port: int) -> None:
    """Serve /metrics on ``host:port`` from a daemon thread; port 0 disables it."""
    if port:
        start_http_server(port, addr=host)
