"""PostgreSQL restarted during a run: clear 5xx JSON meanwhile, recovery without restarts, no job lost.

The keys and the job store live on the suite's private cluster, which is stopped
(``pg_ctl -m fast``: connections are cut) while jobs are in flight and started again
after a few seconds. Meanwhile a key the gateway has not cached yet must get the
gateway's 503 with a JSON error, and so must a poll of a job (a 502 only when a service is down).
Afterwards the same processes (none restarted) answer again and every job ends,
completed and verifiable.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from gateway.keys import KEY_PREFIX, KEY_RANDOM_CHARS
from tests.reliability.conftest import FaultyMesh
from tests.reliability.support import SIZE, assert_all_terminal, run_jobs, timeout_for_jobs, verify_delivered

pytestmark = pytest.mark.e2e

#: Well-formed but never issued: the gateway must ask its database about it.
UNKNOWN_KEY = KEY_PREFIX + "x" * KEY_RANDOM_CHARS


@pytest.mark.timeout(timeout_for_jobs(SIZE.outage_jobs))
def test_database_restart_mid_run(faulty: FaultyMesh) -> None:
    mesh = faulty.mesh
    pids_before = {name: proc.pid for name, proc in mesh.processes.items()}
    during: list[tuple[int, object]] = []

    def outage() -> None:
        time.sleep(2.0)
        faulty.postgres.stop()
        try:
            with httpx.Client(timeout=30) as client:
                unknown_key = client.post(
                    mesh.api_url,
                    json={"action": "models"},
                    headers={"Authorization": f"Bearer {UNKNOWN_KEY}"},
                )
                during.append((unknown_key.status_code, unknown_key.json()))
                poll = client.post(
                    mesh.api_url,
                    json={"action": "status", "id": "run_aaaaaaaaaaaaaaaaaaaa"},
                    headers={"Authorization": f"Bearer {mesh.api_key}"},
                )
                during.append((poll.status_code, poll.json()))
            time.sleep(SIZE.database_outage_s)
        finally:
            faulty.postgres.start()

    thread = threading.Thread(target=outage, daemon=True)
    thread.start()
    outcomes = asyncio.run(run_jobs(mesh.api_url, mesh.api_key, SIZE.outage_jobs))
    thread.join()

    assert during, "the outage never ran"
    status, answer = during[0]
    assert status == 503, (status, answer)
    assert isinstance(answer, dict) and "database" in answer["error"]
    # A poll with a cached key: whether the gateway's own database check or the inference
    # service's job store (UNAVAILABLE with dependency metadata) notices first, a retryable 503 in JSON.
    status, answer = during[1]
    assert status == 503, (status, answer)
    assert isinstance(answer, dict) and answer["error"].startswith("Service temporarily unavailable"), answer

    assert_all_terminal(outcomes)
    assert [o.state for o in outcomes] == ["COMPLETED"] * len(outcomes), [o.status for o in outcomes]
    for outcome in outcomes:
        verify_delivered(outcome.status["meta"])
    assert {name: proc.pid for name, proc in mesh.processes.items()} == pids_before, "a process restarted"
    assert all(proc.poll() is None for proc in mesh.processes.values())
