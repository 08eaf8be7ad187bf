"""Workers SIGKILLed one at a time while jobs run: nothing is lost, nothing completes twice.

Three worker processes share the job store on PostgreSQL. While the jobs run, one
worker at a time gets SIGKILL (no cleanup, no lease released) and is started again, so
its jobs sit under an expiring lease until the requeue pass hands them to another
worker. The proof is read from three places: the API (every job ends; every COMPLETED
image downloads and verifies), the job store (one row per job, attempts within the
budget) and the workers' own logs (one "completed" event per completed job, across
every process that ever ran).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from imgen.mesh import grpc_serving
from tests.reliability.conftest import MAX_ATTEMPTS, FaultyMesh
from tests.reliability.support import (
    SIZE,
    assert_all_terminal,
    run_jobs,
    timeout_for_jobs,
    verify_delivered,
    wait_serving,
)

pytestmark = pytest.mark.e2e


def completions_logged(log_files: list[Path]) -> Counter[str]:
    """job id → how many times a worker logged completing it."""
    seen: Counter[str] = Counter()
    for path in log_files:
        for line in path.read_text(errors="replace").splitlines():
            if '"completed"' not in line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "completed" and event.get("job_id"):
                seen[event["job_id"]] += 1
    return seen


class Killer(threading.Thread):
    """SIGKILLs one worker at a time and starts it again at once.

    A kill happens ``every_s`` seconds after the previous victim serves again, so there
    is never more than one worker down (loading a model takes a while on a busy machine).
    """

    def __init__(self, faulty: FaultyMesh, every_s: float) -> None:
        super().__init__(daemon=True)
        self.faulty = faulty
        self.every_s = every_s
        self.done = threading.Event()
        self.kills = 0

    def run(self) -> None:
        mesh = self.faulty.mesh
        chooser = random.Random(11)
        while not self.done.wait(self.every_s):
            serving = [w for w in self.faulty.workers if grpc_serving(mesh.grpc_address(w), timeout=0.5)]
            if len(serving) < len(self.faulty.workers):
                continue
            victim = chooser.choice(serving)
            mesh.kill(victim)
            self.kills += 1
            mesh.start_process(victim)


@pytest.mark.timeout(timeout_for_jobs(SIZE.worker_kill_jobs))
def test_jobs_survive_workers_killed(faulty: FaultyMesh) -> None:
    mesh = faulty.mesh
    killer = Killer(faulty, SIZE.kill_every_s)
    killer.start()
    try:
        outcomes = asyncio.run(run_jobs(mesh.api_url, mesh.api_key, SIZE.worker_kill_jobs))
    finally:
        killer.done.set()
        killer.join()
        wait_serving(mesh, faulty.workers)

    assert killer.kills >= 1, "the run ended before any worker was killed: raise IMGEN_REL_WORKER_JOBS"
    assert_all_terminal(outcomes)
    ids = [o.job["id"] for o in outcomes]
    assert len(set(ids)) == len(ids)

    with psycopg.connect(faulty.postgres.dsn(_database(mesh.config.env))) as connection:
        rows = connection.execute(
            "SELECT id, state, attempts, error FROM jobs WHERE id = ANY(%s)", (ids,)
        ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(ids), "a job is missing from the store"
    for job_id, state, attempts, error in rows:
        assert 1 <= attempts <= MAX_ATTEMPTS, (job_id, attempts)
        assert state in ("COMPLETED", "FAILED"), (job_id, state)
        if state == "FAILED":
            assert "worker lost the job" in error, (job_id, error)

    logged = completions_logged([p for w in faulty.workers if (p := mesh.log_path(w)) is not None])
    completed = [o for o in outcomes if o.state == "COMPLETED"]
    assert completed, "no job completed"
    for outcome in outcomes:
        expected = 1 if outcome.state == "COMPLETED" else 0
        assert logged[outcome.job["id"]] == expected, (outcome.job["id"], logged[outcome.job["id"]])
    for outcome in completed:
        verify_delivered(outcome.status["meta"])


def _database(env: dict[str, str]) -> str:
    return env["IMGEN_INFERENCE_DATABASE_URL"].rsplit("/", 1)[1]
