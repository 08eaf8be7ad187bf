"""Worker processes sharing one job database, with the real upstreams as processes.

Each test starts compliance, provenance and storage with ``imgen serve`` and inference
processes with ``IMGEN_INFERENCE_ROLE=worker``; jobs are submitted straight into the
shared store (SQLite file or PostgreSQL). Exactly-once is checked three ways: the
store's final state and attempts, the "completed" log lines of all workers, and the
objects in storage.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from imgen.mesh import MeshConfig, free_port
from services.inference import migrate
from services.inference.jobs.states import JobState
from services.inference.jobs.store import JobStore, sqlite_url
from services.inference.tiny_model import ensure_tiny_model
from tests.inference.conftest import POSTGRES_URL, _postgres_available
from tests.inference.helpers import job_spec
from tests.inference.processes import Processes

pytestmark = pytest.mark.e2e

UPSTREAMS = ("compliance", "provenance", "storage")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(URL, table prefix) of an empty shared job database."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "shared" / "jobs.sqlite3"), ""
        return
    if not _postgres_available():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    prefix = f"p{secrets.token_hex(6)}_"
    yield POSTGRES_URL, prefix
    store = JobStore(POSTGRES_URL, table_prefix=prefix)
    with store.engine.begin() as connection:
        connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{prefix}jobs", "{prefix}alembic_version"')
    store.close()


@pytest.fixture
def mesh(tmp_path: Path, database: tuple[str, str]) -> Iterator[tuple[Processes, JobStore]]:
    """Upstreams running, the store migrated, no worker yet."""
    url, prefix = database
    ensure_tiny_model(tmp_path / "data")  # built once here, not raced by the workers
    config = MeshConfig.ephemeral(tmp_path / "data")
    env = {
        **config.environment(),
        "IMGEN_LOG_FORMAT": "json",
        "IMGEN_INFERENCE_DATABASE_URL": url,
        "IMGEN_INFERENCE_TABLE_PREFIX": prefix,
        "IMGEN_INFERENCE_LEASE_S": "3",
        "IMGEN_INFERENCE_HEARTBEAT_S": "0.5",
        "IMGEN_INFERENCE_REQUEUE_INTERVAL_S": "0.5",
        "IMGEN_INFERENCE_POLL_INTERVAL_S": "0.1",
        "IMGEN_INFERENCE_UPSTREAM_BACKOFF_S": "0.2",
        "IMGEN_INFERENCE_TORCH_THREADS": "1",
    }
    processes = Processes(tmp_path, env)
    store = JobStore(url, table_prefix=prefix)
    try:
        migrate.upgrade(store, prefix)
        addresses = {name: processes.start(name, name, {}, config.ports[name]) for name in UPSTREAMS}
        for name, address in addresses.items():
            processes.wait_serving(name, address)
        yield processes, store
    finally:
        processes.stop_all()
        store.close()


def _start_worker(processes: Processes, label: str) -> None:
    address = processes.start(label, "inference", {"IMGEN_INFERENCE_ROLE": "worker"}, free_port())
    processes.wait_serving(label, address)


def _wait_all_ended(store: JobStore, job_ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(store.get(job_id).state.terminal for job_id in job_ids):
        if time.monotonic() > deadline:
            states = {job_id: store.get(job_id).state.value for job_id in job_ids}
            raise TimeoutError(f"jobs did not end: {states}")
        time.sleep(0.2)


def _stored_files(data_dir: Path, gen_id: str) -> list[Path]:
    """The images of one generation (the local backend keeps metadata files beside them)."""
    folders = [path for path in (data_dir / "objects").rglob(gen_id) if path.is_dir()]
    return [path for folder in folders for path in folder.glob(f"{gen_id}_*.jpg")]


def test_two_worker_processes_race_for_jobs(mesh: tuple[Processes, JobStore], tmp_path: Path) -> None:
    processes, store = mesh
    _start_worker(processes, "worker-a")
    _start_worker(processes, "worker-b")
    jobs = [store.submit(job_spec(seed=seed).SerializeToString()) for seed in range(8)]
    ids = [job.id for job in jobs]
    _wait_all_ended(store, ids, timeout=300)

    records = [store.get(job_id) for job_id in ids]
    assert [r.state for r in records] == [JobState.COMPLETED] * len(ids), [r.error for r in records]
    assert [r.attempts for r in records] == [1] * len(ids)
    assert processes.completed_lines() == Counter(dict.fromkeys(ids, 1))
    for record in records:
        assert len(_stored_files(tmp_path / "data", record.gen_id)) == 2


def test_killed_worker_job_completes_on_the_other_once(
    mesh: tuple[Processes, JobStore], tmp_path: Path
) -> None:
    processes, store = mesh
    _start_worker(processes, "worker-a")
    spec = job_spec(width=1344, height=768, seed=5)
    spec.prompt.preset.steps = 60
    job = store.submit(spec.SerializeToString())
    deadline = time.monotonic() + 120
    while True:
        record = store.get(job.id)
        if record.state is JobState.IN_PROGRESS and record.step >= 1:
            break
        assert time.monotonic() < deadline, f"job never started: {record.state}"
        time.sleep(0.1)
    first_owner = record.lease_owner
    processes.kill("worker-a")
    assert store.get(job.id).state is JobState.IN_PROGRESS

    _start_worker(processes, "worker-b")
    _wait_all_ended(store, [job.id], timeout=300)
    final = store.get(job.id)
    assert final.state is JobState.COMPLETED, final.error
    assert final.attempts == 2
    assert first_owner and first_owner.split("-")[-3] == str(processes.procs["worker-a"].pid)
    assert processes.completed_lines() == Counter({job.id: 1})
    assert len(_stored_files(tmp_path / "data", final.gen_id)) == 2
