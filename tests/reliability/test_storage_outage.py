"""The S3 server stopped mid-run: jobs wait and retry, then complete; past the budget they FAIL clearly.

The workers retry storage with exponential backoff (7 tries from 0.5 s in this mesh,
about 30 s in all), so an outage shorter than that only delays the jobs in flight.
The second test puts one worker on a budget of 2 quick tries and the others out of the
way, and shows what a job past its budget looks like: FAILED with an error naming
storage. It is the suite's last test (conftest.MODULE_ORDER): it leaves the workers so.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

from imgen.client import ImgenClient
from tests.reliability.conftest import FaultyMesh
from tests.reliability.support import (
    JOB_BOUND_S,
    POLL_S,
    SIZE,
    assert_all_terminal,
    run_jobs,
    timeout_for_jobs,
    verify_delivered,
)

pytestmark = pytest.mark.e2e


def _outage(faulty: FaultyMesh, after_s: float, for_s: float) -> threading.Thread:
    def run() -> None:
        time.sleep(after_s)
        faulty.seaweed.stop()
        time.sleep(for_s)
        faulty.seaweed.start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(timeout_for_jobs(SIZE.outage_jobs))
def test_jobs_ride_out_a_storage_outage(faulty: FaultyMesh) -> None:
    mesh = faulty.mesh
    outage = _outage(faulty, after_s=1.0, for_s=SIZE.storage_outage_s)
    outcomes = asyncio.run(run_jobs(mesh.api_url, mesh.api_key, SIZE.outage_jobs))
    outage.join()
    assert_all_terminal(outcomes)
    failed = [(o.job["id"], o.status) for o in outcomes if o.state != "COMPLETED"]
    assert not failed, f"jobs failed across a {SIZE.storage_outage_s:.0f}s outage: {failed}"
    for outcome in outcomes:
        verify_delivered(outcome.status["meta"])


def test_job_past_the_retry_budget_fails_clearly(faulty: FaultyMesh) -> None:
    mesh = faulty.mesh
    first, *others = faulty.workers
    for worker in others:
        mesh.kill(worker, signal.SIGTERM)  # graceful: anything held goes back to the queue
    mesh.kill(first, signal.SIGTERM)
    env = {
        **os.environ,
        **mesh.config.environment(),
        "IMGEN_INFERENCE_UPSTREAM_ATTEMPTS": "2",
        "IMGEN_INFERENCE_UPSTREAM_BACKOFF_S": "0.2",
    }
    mesh.start_process(first, env)
    while not mesh.serving(first):
        time.sleep(0.2)
    faulty.seaweed.stop()
    try:
        with ImgenClient(mesh.api_url, mesh.api_key, timeout=60) as client:
            job = client.submit("a harbour crane in fog")
            deadline = time.monotonic() + JOB_BOUND_S
            state = client.status(job)
            while state["status"] in ("IN_QUEUE", "IN_PROGRESS") and time.monotonic() < deadline:
                time.sleep(POLL_S)
                state = client.status(job)
    finally:
        faulty.seaweed.start()
    assert state["status"] == "FAILED", state
    assert "storage unavailable after 2 attempts" in state.get("error", ""), state
