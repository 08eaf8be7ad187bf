"""The gateway as its own process (``imgen serve gateway``), the keys CLI, and the local key."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.keys import KeyStore
from gateway.local_key import database_url_for, ensure_local_key, local_key_path, read_local_key
from imgen.mesh import free_port

REPO = Path(__file__).resolve().parents[2]


def imgen(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imgen.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "IMGEN_DATA_DIR": str(tmp_path), "IMGEN_LOG_FORMAT": "json"}


@pytest.fixture
def gateway_process(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    dead = f"127.0.0.1:{free_port()}"
    proc_env = {
        **env,
        "IMGEN_GATEWAY_PORT": str(port),
        "IMGEN_PROMPT_ADDR": dead,
        "IMGEN_INFERENCE_ADDR": dead,
        "IMGEN_COMPLIANCE_ADDR": dead,
        "IMGEN_STORAGE_ADDR": dead,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "imgen.cli", "serve", "gateway"],
        cwd=REPO,
        env=proc_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise AssertionError("gateway did not start")
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)


def test_served_gateway_answers_and_stops_on_sigterm(
    gateway_process: tuple[str, subprocess.Popen[bytes]], env: dict[str, str]
) -> None:
    base, proc = gateway_process
    key = ensure_local_key(Path(env["IMGEN_DATA_DIR"]), env)
    assert httpx.post(f"{base}/api/v2", json={"action": "models"}).json() == {"error": "Unauthorized"}
    response = httpx.post(
        f"{base}/api/v2", json={"action": "models"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 502 and response.json() == {"error": "Generation failed"}
    assert response.headers["x-request-id"]
    assert httpx.get(f"{base}/readyz").status_code == 503
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    log = proc.stderr.read().decode() if proc.stderr else ""
    assert key not in log  # the key never reaches the log


def test_keys_cli_lifecycle(env: dict[str, str]) -> None:
    created = imgen("keys", "create", "ci-bot", env=env)
    assert created.returncode == 0, created.stderr
    plaintext = created.stdout.split("store it now):", 1)[1].strip()
    assert plaintext.startswith("imgen_")
    listed = imgen("keys", "list", env=env)
    assert "ci-bot" in listed.stdout and plaintext not in listed.stdout
    store = KeyStore(database_url_for(Path(env["IMGEN_DATA_DIR"]), env))
    try:
        record = store.verify(plaintext)
        assert record is not None
        assert imgen("keys", "disable", record.id, env=env).returncode == 0
        assert store.verify(plaintext) is None
        assert imgen("keys", "enable", record.prefix, env=env).returncode == 0
        assert store.verify(plaintext) is not None
        assert imgen("keys", "delete", record.id, env=env).returncode == 0
        assert store.verify(plaintext) is None
        missing = imgen("keys", "delete", record.id, env=env)
        assert missing.returncode == 1 and "no key" in missing.stderr
    finally:
        store.close()


def test_local_key_is_created_once_kept_private_and_replaced_when_revoked(tmp_path: Path) -> None:
    assert read_local_key(tmp_path) is None
    first = ensure_local_key(tmp_path, {})
    assert ensure_local_key(tmp_path, {}) == first
    assert read_local_key(tmp_path) == first
    assert stat.S_IMODE(local_key_path(tmp_path).stat().st_mode) == 0o600
    store = KeyStore(database_url_for(tmp_path, {}))
    try:
        record = store.verify(first)
        assert record is not None
        store.disable(record.id)
        second = ensure_local_key(tmp_path, {})
        assert second != first and store.verify(second) is not None
    finally:
        store.close()
