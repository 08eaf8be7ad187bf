"""Start the whole mesh on loopback, each service in its own process.

Used by ``imgen up``, ``imgen demo`` and the end-to-end tests, so what a developer runs
is exactly what the tests exercise: five gRPC services and the gateway as separate
processes talking real gRPC, configured only through ``IMGEN_*`` variables.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

#: Service name → default port (docs/conventions.md). Storage first: nothing depends on start order,
#: but the inference service is slowest to become ready (it builds or loads the model).
DEFAULT_PORTS: dict[str, int] = {
    "storage": 50065,
    "compliance": 50063,
    "provenance": 50064,
    "prompt": 50061,
    "inference": 50062,
}
GATEWAY_DEFAULT_PORT = 8470
GRPC_SERVICES: tuple[str, ...] = tuple(DEFAULT_PORTS)
#: Name prefix of extra inference worker processes (:meth:`MeshConfig.add_workers`).
WORKER_PREFIX = "inference-worker-"


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now (tests start many meshes side by side)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class MeshConfig:
    """Where the mesh keeps its state and which ports it uses."""

    data_dir: Path
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    gateway_port: int = GATEWAY_DEFAULT_PORT
    #: Prometheus ports: service → port; empty disables metrics.
    metrics_ports: dict[str, int] = field(default_factory=dict)
    #: Extra environment for every process (e.g. IMGEN_CONFIG, per-service overrides).
    env: dict[str, str] = field(default_factory=dict)
    #: Where each process's log goes; None inherits the terminal.
    log_dir: Path | None = None
    #: Extra inference processes with ``role=worker`` (own port each), sharing the job database:
    #: name (``inference-worker-<n>``) → gRPC port. Needs a database several processes can share.
    worker_ports: dict[str, int] = field(default_factory=dict)

    def add_workers(self, count: int) -> None:
        """Run ``count`` more inference worker processes, each on a free port."""
        start = len(self.worker_ports) + 1
        for index in range(start, start + count):
            self.worker_ports[f"{WORKER_PREFIX}{index}"] = free_port()

    @classmethod
    def ephemeral(cls, data_dir: Path, env: Mapping[str, str] | None = None) -> MeshConfig:
        """A configuration on free ports, for tests and parallel runs."""
        return cls(
            data_dir=data_dir,
            ports={name: free_port() for name in GRPC_SERVICES},
            gateway_port=free_port(),
            env=dict(env or {}),
            log_dir=data_dir / "logs",
        )

    @classmethod
    def from_settings(cls, data_dir: Path, gateway_port: int = 0, log_dir: Path | None = None) -> MeshConfig:
        """Ports from the same settings the services read (``IMGEN_<SVC>_PORT`` or the YAML file).

        ``imgen up`` uses this so a port moved in the environment or config file moves in
        both the service and the addresses its callers are given.
        """
        ports = {name: _configured_port(name) or default for name, default in DEFAULT_PORTS.items()}
        return cls(
            data_dir=data_dir,
            ports=ports,
            gateway_port=gateway_port or _configured_port("gateway") or GATEWAY_DEFAULT_PORT,
            log_dir=log_dir,
        )

    @property
    def base_url(self) -> str:
        """The gateway's root URL."""
        return f"http://{self.host}:{self.gateway_port}"

    def environment(self) -> dict[str, str]:
        """The ``IMGEN_*`` variables every process of the mesh gets."""
        env = {
            "IMGEN_DATA_DIR": str(self.data_dir),
            "IMGEN_GATEWAY_PORT": str(self.gateway_port),
            "IMGEN_GATEWAY_HOST": self.host,
            "IMGEN_STORAGE_PUBLIC_BASE_URL": self.base_url,
            "HF_HUB_OFFLINE": "1",
        }
        for name, port in self.ports.items():
            env[f"IMGEN_{name.upper()}_ADDR"] = f"{self.host}:{port}"
            env[f"IMGEN_{name.upper()}_PORT"] = str(port)
            env[f"IMGEN_{name.upper()}_HOST"] = self.host
        for name, port in self.metrics_ports.items():
            env[f"IMGEN_{name.upper()}_METRICS_PORT"] = str(port)
        env.update(self.env)
        return env


def _configured_port(section: str) -> int:
    """The port configured for ``section`` through env or YAML, 0 when only the default applies."""
    from services.shared.settings import ServiceSettings

    settings_cls = type(f"{section.title()}PortSettings", (ServiceSettings,), {"section": section})
    return int(settings_cls().port)


class MeshError(RuntimeError):
    """The mesh did not come up; the message names the process and its log."""


class Mesh:
    """A running mesh: one process per service plus the gateway."""

    def __init__(self, config: MeshConfig) -> None:
        self.config = config
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[object] = []
        self.api_key: str = ""

    @property
    def base_url(self) -> str:
        """The gateway's root URL."""
        return self.config.base_url

    @property
    def api_url(self) -> str:
        """The v2 action endpoint."""
        return f"{self.base_url}/api/v2"

    def log_path(self, name: str) -> Path | None:
        """Where process ``name`` writes its log, if it writes to a file."""
        return self.config.log_dir / f"{name}.log" if self.config.log_dir else None

    def start(self) -> None:
        """Start every process; returns at once (see :meth:`wait_ready`)."""
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        if self.config.log_dir:
            self.config.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.config.environment()}
        for name in (*GRPC_SERVICES, *self.config.worker_ports, "gateway"):
            self.start_process(name, env)

    def grpc_address(self, name: str) -> str:
        """host:port of gRPC process ``name`` (a service or an extra worker)."""
        port = self.config.worker_ports.get(name) or self.config.ports[name]
        return f"{self.config.host}:{port}"

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (default SIGKILL: no cleanup at all) to process ``name`` and reap it."""
        proc = self.processes[name]
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            proc.wait(timeout=30)

    def restart(self, name: str, timeout: float = 120.0) -> None:
        """Start process ``name`` again (after :meth:`kill`) and wait until it serves."""
        self.start_process(name)
        deadline = time.monotonic() + timeout
        while not self.serving(name):
            self._check_alive()
            if time.monotonic() > deadline:
                raise MeshError(f"{name} not serving {timeout:.0f}s after restart{self._log_hint(name)}")
            time.sleep(0.2)

    def serving(self, name: str) -> bool:
        """Whether process ``name`` answers its health check now."""
        if name == "gateway":
            try:
                return httpx.get(f"{self.base_url}/healthz", timeout=2.0).status_code == 200
            except httpx.HTTPError:
                return False
        return grpc_serving(self.grpc_address(name))

    def start_process(self, name: str, env: Mapping[str, str] | None = None) -> None:
        """(Re)start one process of the mesh, e.g. after a test killed it."""
        env = dict(env or {**os.environ, **self.config.environment()})
        service = name
        if name in self.config.worker_ports:
            service = "inference"
            env["IMGEN_INFERENCE_ROLE"] = "worker"
            env["IMGEN_INFERENCE_PORT"] = str(self.config.worker_ports[name])
            env.pop("IMGEN_INFERENCE_METRICS_PORT", None)  # one port per host: the API process keeps it
        log_path = self.log_path(name)
        out: int | object = subprocess.DEVNULL
        if log_path is not None:
            handle = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
            self._logs.append(handle)
            out = handle
        else:
            out = None  # inherit the terminal
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "imgen.cli", "serve", service],
            env=dict(env),
            stdout=out,  # type: ignore[arg-type]
            stderr=subprocess.STDOUT if log_path is not None else None,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Block until every service reports SERVING and the gateway answers."""
        deadline = time.monotonic() + timeout
        pending = {*GRPC_SERVICES, *self.config.worker_ports}
        while pending:
            self._check_alive()
            for name in sorted(pending):
                if grpc_serving(self.grpc_address(name)):
                    pending.discard(name)
            if pending and time.monotonic() > deadline:
                raise MeshError(
                    f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}{self._log_hint()}"
                )
            if pending:
                time.sleep(0.2)
        while True:
            self._check_alive()
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise MeshError(f"gateway not ready after {timeout:.0f}s{self._log_hint()}")
            time.sleep(0.2)

    def ensure_api_key(self) -> str:
        """The mesh's local API key, created on first use and kept (0600) in the data dir."""
        from gateway.local_key import ensure_local_key

        self.api_key = ensure_local_key(self.config.data_dir, self.config.environment())
        return self.api_key

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM every process, wait up to ``grace`` seconds, then SIGKILL what is left."""
        for proc in self.processes.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.processes.values():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                proc.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        for handle in self._logs:
            handle.close()  # type: ignore[attr-defined]
        self._logs.clear()

    def _check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise MeshError(f"{name} exited with code {proc.returncode}{self._log_hint(name)}")

    def _log_hint(self, name: str | None = None) -> str:
        if self.config.log_dir is None:
            return ""
        if name is None:
            return f" (logs in {self.config.log_dir})"
        path = self.log_path(name)
        tail = ""
        if path and path.exists():
            tail = "\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:])
        return f" (log: {path}){tail}"


def grpc_serving(address: str, timeout: float = 1.0) -> bool:
    """Whether the grpc.health.v1 service at ``address`` says SERVING."""
    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout
            )
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


@contextlib.contextmanager
def running_mesh(config: MeshConfig, timeout: float = 180.0) -> Iterator[Mesh]:
    """Start a mesh, wait until ready, create its API key; always stop it on exit."""
    mesh = Mesh(config)
    try:
        mesh.start()
        mesh.wait_ready(timeout)
        mesh.ensure_api_key()
        yield mesh
    finally:
        mesh.stop()
