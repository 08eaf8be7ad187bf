"""Service processes for tests and benchmarks: ``imgen serve <service>`` with its own log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from imgen.mesh import grpc_serving


class Processes:
    """Service processes started by a test, each logging to its own file."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    def start(self, label: str, service: str, extra: dict[str, str], port: int) -> str:
        log_path = self.root / "logs" / f"{label}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.logs[label] = log_path
        env = {**os.environ, **self.env, **extra, f"IMGEN_{service.upper()}_PORT": str(port)}
        with open(log_path, "ab") as out:
            self.procs[label] = subprocess.Popen(
                [sys.executable, "-m", "imgen.cli", "serve", service],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return f"127.0.0.1:{port}"

    def wait_serving(self, label: str, address: str, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while not grpc_serving(address):
            if self.procs[label].poll() is not None:
                raise RuntimeError(f"{label} exited: {self.logs[label].read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{label} not serving after {timeout:.0f}s")
            time.sleep(0.2)

    def kill(self, label: str) -> None:
        os.killpg(self.procs[label].pid, signal.SIGKILL)
        self.procs[label].wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def completed_lines(self) -> Counter[str]:
        """job id → number of "completed" log events across every worker."""
        counts: Counter[str] = Counter()
        for label, path in self.logs.items():
            if not label.startswith("worker"):
                continue
            for line in path.read_text(errors="replace").splitlines():
                with_json = line.startswith("{")
                event = json.loads(line) if with_json else {}
                if event.get("event") == "completed" and event.get("logger") == "services.inference.worker":
                    counts[event["job_id"]] += 1
        return counts

    def peak_rss_bytes(self, label: str) -> int:
        """The process's peak resident set (VmHWM), Linux only."""
        status = Path(f"/proc/{self.procs[label].pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("VmHWM not reported")
