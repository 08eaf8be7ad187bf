"""`imgen up` as a user runs it: prints the URL and a key, serves, stops everything on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from imgen.mesh import DEFAULT_PORTS, free_port

pytestmark = pytest.mark.e2e


def test_up_prints_url_and_key_and_stops_on_interrupt(tmp_path: Path) -> None:
    env = {**os.environ, "IMGEN_DATA_DIR": str(tmp_path)}
    for name in DEFAULT_PORTS:
        env[f"IMGEN_{name.upper()}_PORT"] = str(free_port())
    gateway_port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "imgen.cli", "up", "--port", str(gateway_port), "--no-metrics"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 240
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Ctrl-C stops everything" in line:
                break
        text = "".join(output)
        url = re.search(r"API:\s+(\S+)", text)
        key = re.search(r"API key:\s+(\S+)", text)
        assert url and key, text
        assert url.group(1) == f"http://127.0.0.1:{gateway_port}/api/v2"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) == 6  # five services and the gateway, each its own process

        answer = httpx.post(
            url.group(1),
            json={"action": "models"},
            headers={"Authorization": f"Bearer {key.group(1)}"},
            timeout=30,
        )
        assert answer.status_code == 200 and "eros" in answer.json()["models"]
        # The key is kept for the next run and for `imgen generate`.
        assert (tmp_path / "local_api_key").read_text().strip() == key.group(1)

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        for child in children:
            assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    finally:
        if proc.poll() is None:
            proc.kill()
