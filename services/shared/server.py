"""The one gRPC server bootstrap every service uses.

It gives each service the same behaviour without repeating it: a grpc.aio server with
the mesh's message limits, the error/metrics interceptor, grpc.health.v1 (NOT_SERVING
until the service's startup hooks have finished, e.g. models loaded), server
reflection, a Prometheus endpoint, structured logs, OpenTelemetry traces when
``otlp_endpoint`` is set, TLS or mutual TLS when the ``tls_*`` fields are, and a
graceful stop on SIGTERM or SIGINT that lets in-flight calls finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from services.shared.channels import channel_options
from services.shared.interceptors import ServerInterceptor
from services.shared.logging import configure_logging, get_logger
from services.shared.metrics import start_metrics_server
from services.shared.settings import ServiceSettings
from services.shared.tls import server_credentials
from services.shared.tracing import configure_tracing, shutdown_tracing

log = get_logger(__name__)

Hook = Callable[[], Awaitable[None]]


class ServiceRuntime:
    """One service process: its server, health state, and lifecycle hooks.

    A service builds its servicers, registers them on :attr:`server`, adds hooks, then
    awaits :meth:`run`. Startup hooks run after the port is bound but before health
    says SERVING, so Kubernetes' startup probe waits for slow model loads. Background
    tasks (workers, reloaders, cleanup) start after startup and are cancelled on stop.
    """

    def __init__(self, name: str, settings: ServiceSettings) -> None:
        self.name = name
        self.settings = settings
        configure_logging(name, settings.log_level, settings.log_format)
        self._owns_tracing = configure_tracing(name, settings.otlp_endpoint)
        self.server = grpc.aio.server(
            interceptors=[ServerInterceptor(name)],
            options=channel_options(settings.grpc_max_message_mb),
        )
        self.health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._background: list[Hook] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._service_names: list[str] = []
        self.bound_port = 0

    def on_startup(self, hook: Hook) -> None:
        """Run ``hook`` before the service reports SERVING (e.g. load models)."""
        self._startup.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        """Run ``hook`` after the server stopped accepting calls (close pools, flush)."""
        self._shutdown.append(hook)

    def background(self, task: Hook) -> None:
        """Run ``task`` for the life of the service, cancelled at shutdown."""
        self._background.append(task)

    async def set_serving(self, serving: bool) -> None:
        """Report the process (and each registered service) as SERVING or NOT_SERVING.

        A service calls this with False when a dependency it cannot work without is
        gone (a detector failed to load), so probes and callers see it.
        """
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self._service_names]:
            await self.health.set(name, status)

    async def run(self, service_names: list[str]) -> None:
        """Serve until SIGTERM/SIGINT; ``service_names`` are full proto service names."""
        self._service_names = list(service_names)
        reflection.enable_server_reflection(
            [
                *service_names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            self.server,
        )
        address = f"{self.settings.host}:{self.settings.port}"
        credentials = server_credentials(self.settings)
        if credentials is None:
            self.bound_port = self.server.add_insecure_port(address)
        else:
            self.bound_port = self.server.add_secure_port(address, credentials)
        if not self.bound_port:
            raise RuntimeError(f"{self.name}: cannot bind {address}")
        await self.set_serving(False)
        await self.server.start()
        start_metrics_server(self.settings.host, self.settings.metrics_port)
        log.info(
            "listening",
            address=f"{self.settings.host}:{self.bound_port}",
            tls=credentials is not None,
            mutual_tls=credentials is not None and self.settings.tls_require_client_cert,
            metrics_port=self.settings.metrics_port,
        )

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)

        try:
            for hook in self._startup:
                await hook()
            self._tasks = [asyncio.create_task(self._guard(task)) for task in self._background]
            await self.set_serving(True)
            log.info("serving", services=service_names)
            await stop.wait()
        finally:
            log.info("stopping", grace_s=self.settings.shutdown_grace_s)
            await self.health.enter_graceful_shutdown()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.server.stop(self.settings.shutdown_grace_s)
            for hook in reversed(self._shutdown):
                try:
                    await hook()
                except Exception:
                    log.exception("shutdown hook failed")
            if self._owns_tracing:
                shutdown_tracing()
            log.info("stopped")

    async def _guard(self, task: Hook) -> None:
        """Keep a background task alive: log a crash and restart it after a pause."""
        while True:
            try:
                await task()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task crashed; restarting", task=getattr(task, "__name__", "?"))
                await asyncio.sleep(1.0)


def service_name(descriptor_module: object, service: str) -> str:
    """Full proto name of ``service`` in a generated ``*_pb2`` module."""
    return descriptor_module.DESCRIPTOR.services_by_name[service].full_name  # type: ignore[attr-defined]
