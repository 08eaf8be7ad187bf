"""Graceful shutdown of the gateway process: SIGTERM finishes what is in flight, refuses the rest.

The gateway runs as ``imgen serve gateway``; its prompt upstream is a scripted stand-in
(as in :mod:`tests.gateway.doubles`) whose ``ListModels`` holds the call until the test
releases it, so "a request in flight" is a fact the test controls, not a timing guess.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import httpx
import pytest

from gateway.local_key import ensure_local_key
from imgen.mesh import free_port
from imgen.prompt.v1 import prompt_pb2, prompt_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
GRACE_S = 20


class HeldPrompt(prompt_pb2_grpc.PromptServiceServicer):
    """Answers ListModels only once ``release`` is set; ``arrived`` says a call is waiting."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()

    def ListModels(
        self, request: prompt_pb2.ListModelsRequest, context: grpc.ServicerContext
    ) -> prompt_pb2.ListModelsResponse:
        self.arrived.set()
        self.release.wait(60)
        return prompt_pb2.ListModelsResponse(
            characters=["aya"], models=[prompt_pb2.ModelInfo(key="eros", label="Eros")]
        )


@pytest.fixture
def held_prompt() -> Iterator[tuple[str, HeldPrompt]]:
    servicer = HeldPrompt()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    prompt_pb2_grpc.add_PromptServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        servicer.release.set()
        server.stop(0)


def connection_refused(base: str) -> bool:
    try:
        httpx.get(f"{base}/healthz", timeout=2)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False


def test_sigterm_finishes_in_flight_request_refuses_new_ones_and_exits_0(
    tmp_path: Path, held_prompt: tuple[str, HeldPrompt]
) -> None:
    prompt_addr, prompt = held_prompt
    port = free_port()
    dead = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "IMGEN_DATA_DIR": str(tmp_path),
        "IMGEN_LOG_FORMAT": "json",
        "IMGEN_GATEWAY_PORT": str(port),
        "IMGEN_GATEWAY_SHUTDOWN_GRACE_S": str(GRACE_S),
        "IMGEN_PROMPT_ADDR": prompt_addr,
        "IMGEN_INFERENCE_ADDR": dead,
        "IMGEN_COMPLIANCE_ADDR": dead,
        "IMGEN_STORAGE_ADDR": dead,
        "IMGEN_PROVENANCE_ADDR": dead,
    }
    key = ensure_local_key(tmp_path, env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "imgen.cli", "serve", "gateway"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    in_flight: dict[str, httpx.Response | BaseException] = {}

    def call_models() -> None:
        try:
            in_flight["answer"] = httpx.post(
                f"{base}/api/v2",
                json={"action": "models"},
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
        except BaseException as exc:  # handed to the test thread below
            in_flight["answer"] = exc

    caller = threading.Thread(target=call_models)
    try:
        deadline = time.monotonic() + 60
        while connection_refused(base):
            assert proc.poll() is None and time.monotonic() < deadline, "gateway did not start"
            time.sleep(0.1)
        caller.start()
        assert prompt.arrived.wait(30), "the models request never reached the upstream"

        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        while not connection_refused(base):  # the listener closes first, the request stays open
            assert time.monotonic() - signalled < GRACE_S, "new connections still accepted"
            time.sleep(0.05)
        assert proc.poll() is None, "exited before the in-flight request finished"

        prompt.release.set()
        caller.join(30)
        answer = in_flight["answer"]
        assert isinstance(answer, httpx.Response), answer
        assert answer.status_code == 200, answer.text
        assert answer.json()["characters"] == ["aya"]
        assert proc.wait(timeout=GRACE_S) == 0
        assert time.monotonic() - signalled < GRACE_S
    finally:
        prompt.release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
