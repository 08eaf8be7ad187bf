"""Container HEALTHCHECK for every imgen image: is the process in this container healthy?

Kubernetes ignores HEALTHCHECK (the chart declares native probes); this exists for
`docker run` and Compose. The image runs `imgen serve <service>` as PID 1, so the
service is read from PID 1's command line, its port from ``IMGEN_<SERVICE>_PORT`` or the
default of docs/conventions.md. gRPC services answer grpc.health.v1 (SERVING only once
models and keys are loaded); the gateway answers ``GET /healthz``. Exit 0 healthy, 1 not.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

#: Default ports of docs/conventions.md (tests/deploy checks them against the Settings classes).
DEFAULT_PORTS: dict[str, int] = {
    "prompt": 50061,
    "inference": 50062,
    "compliance": 50063,
    "provenance": 50064,
    "storage": 50065,
    "gateway": 8470,
}
TIMEOUT_S = 4.0


def served_service(cmdline: list[str]) -> str | None:
    """The ``<service>`` of an ``imgen serve <service>`` command line, if it is one."""
    for index, word in enumerate(cmdline[:-1]):
        if word == "serve" and cmdline[index + 1] in DEFAULT_PORTS:
            return cmdline[index + 1]
    return None


def service_port(service: str, environ: dict[str, str]) -> int:
    """The port the service listens on, as its settings would resolve it from the environment."""
    raw = environ.get(f"IMGEN_{service.upper()}_PORT", "")
    return int(raw) if raw.strip() else DEFAULT_PORTS[service]


def grpc_serving(port: int) -> bool:
    """True when grpc.health.v1 on localhost:port reports SERVING for the whole server."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_S
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def http_healthy(port: int) -> bool:
    """True when the gateway's liveness endpoint answers 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT_S) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def main() -> int:
    """Check the service PID 1 runs; a container running something else is left alone (healthy)."""
    raw = Path("/proc/1/cmdline").read_bytes() if Path("/proc/1/cmdline").exists() else b""
    service = served_service([part.decode() for part in raw.split(b"\0") if part])
    if service is None:
        return 0
    port = service_port(service, dict(os.environ))
    healthy = http_healthy(port) if service == "gateway" else grpc_serving(port)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
