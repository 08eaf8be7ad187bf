"""Prometheus metrics of the HTTP API, served on the gateway's own ``/metrics``.

Labels are bounded: the action is one of the known ones or "other", so a client
sending random action names cannot blow up the number of series.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "imgen_gateway_requests_total",
    "v2 API requests answered, by action and HTTP status.",
    ["action", "status"],
)
HTTP_LATENCY = Histogram(
    "imgen_gateway_request_seconds",
    "Time to answer a v2 API request, by action.",
    ["action"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
FILE_BYTES = Counter("imgen_gateway_file_bytes_total", "Bytes of signed objects streamed by /files.")
