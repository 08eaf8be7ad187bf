"""A service killed and started again: callers get clear errors in time, health says so, the mesh recovers.

Prompt and compliance sit on the gateway's synchronous path (``generate``), so killing
either must turn ``generate`` into the spec's 502 JSON within the gateway's deadline
(5 s here), never a hang, and ``/readyz`` must name the service. Provenance sits on the
worker's path: a job submitted while it is down waits in the worker's retries and
completes once it is back.
"""

from __future__ import annotations

import time

import httpx
import pytest

from imgen.client import ImgenClient, PollPolicy
from imgen.mesh import grpc_serving
from tests.reliability.conftest import FaultyMesh
from tests.reliability.support import JOB_BOUND_S, POLL_S, one_image, verify_delivered, wait_serving

pytestmark = pytest.mark.e2e

#: The gateway's upstream deadline in this mesh (IMGEN_GATEWAY_REQUEST_TIMEOUT_S) plus HTTP slack.
ANSWER_BOUND_S = 5.0 + 5.0
#: How long after a service serves again the gateway may take to see it.
RECOVERY_BOUND_S = 30.0


def _generate(faulty: FaultyMesh) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(
        faulty.mesh.api_url,
        json={"action": "generate", "prompt": "a cabin in the snow"},
        headers={"Authorization": f"Bearer {faulty.mesh.api_key}"},
        timeout=60,
    )
    return response, time.monotonic() - started


def _wait_ready(faulty: FaultyMesh) -> None:
    """The gateway's channels reconnect on gRPC's backoff (1 s, x1.6): ready again within seconds."""
    deadline = time.monotonic() + RECOVERY_BOUND_S
    while httpx.get(f"{faulty.mesh.base_url}/readyz", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, f"gateway not ready {RECOVERY_BOUND_S:.0f}s after the restart"
        time.sleep(0.5)


@pytest.mark.parametrize("service", ["prompt", "compliance"])
def test_gateway_path_service_killed(faulty: FaultyMesh, service: str) -> None:
    mesh = faulty.mesh
    mesh.kill(service)
    try:
        response, elapsed = _generate(faulty)
        assert response.status_code == 502, response.text
        assert response.json() == {"error": "Generation failed"}
        assert elapsed < ANSWER_BOUND_S, f"generate took {elapsed:.1f}s with {service} down"

        ready = httpx.get(f"{mesh.base_url}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["services"][service] is False
    finally:
        mesh.restart(service)

    _wait_ready(faulty)
    response, _ = _generate(faulty)
    assert response.status_code == 200, response.text


def test_provenance_killed_job_waits_then_completes(faulty: FaultyMesh) -> None:
    mesh = faulty.mesh
    mesh.kill("provenance")
    try:
        assert not grpc_serving(mesh.grpc_address("provenance"))
        with ImgenClient(mesh.api_url, mesh.api_key, timeout=60) as client:
            job = client.submit("a windmill at dusk")
            time.sleep(3.0)  # the worker reaches Finalize and retries meanwhile
            assert client.status(job)["status"] in ("IN_QUEUE", "IN_PROGRESS")
            mesh.restart("provenance")
            meta = client.wait(job, PollPolicy(interval_s=POLL_S, max_polls=int(JOB_BOUND_S / POLL_S)))
    finally:
        wait_serving(mesh, ["provenance"])
    verify_delivered(dict(meta))


def test_mesh_whole_after_restarts(faulty: FaultyMesh) -> None:
    verify_delivered(one_image(faulty.mesh.api_url, faulty.mesh.api_key))
