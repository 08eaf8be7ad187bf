"""What the reliability suite shares: its size, a throwaway PostgreSQL, job runs and image checks.

The suite runs in CI on small machines, so its sizes are scaled down from the issue's
(200 jobs, a 20 s storage outage); ``IMGEN_REL_FULL=1`` runs the full sizes, and each
size has its own variable (:class:`SuiteSize`) for anything in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from imgen.client import PENDING, TERMINAL, AsyncImgenClient, ImgenClient
from imgen.mesh import Mesh, free_port
from services.provenance.c2pa_manifest import verify_manifest
from services.provenance.fingerprint import compute_pdq

FULL = os.environ.get("IMGEN_REL_FULL", "") == "1"


def _size(name: str, ci: float, full: float) -> float:
    return float(os.environ.get(name, full if FULL else ci))


@dataclass(frozen=True)
class SuiteSize:
    """How big each fault run is (CI default, then the issue's full size)."""

    #: Jobs pushed through the mesh while workers are SIGKILLed (issue: 200).
    worker_kill_jobs: int = int(_size("IMGEN_REL_WORKER_JOBS", 9, 200))
    #: Seconds between two worker kills.
    kill_every_s: float = _size("IMGEN_REL_KILL_EVERY_S", 6, 4)
    #: Seconds the S3 server stays down (issue: 20).
    storage_outage_s: float = _size("IMGEN_REL_STORAGE_OUTAGE_S", 10, 20)
    #: Jobs in flight across the storage outage and across the database restart.
    outage_jobs: int = int(_size("IMGEN_REL_OUTAGE_JOBS", 3, 12))
    #: Seconds PostgreSQL stays down.
    database_outage_s: float = _size("IMGEN_REL_DB_OUTAGE_S", 4, 10)
    #: Hostile requests of each kind sent in the bad-input run.
    hostile_rounds: int = int(_size("IMGEN_REL_HOSTILE_ROUNDS", 2, 10))
    #: Seconds each job submitted at once adds to the others' bound: they queue behind it
    #: (200 jobs on 3 workers sharing 2 cores take minutes, not the one job's bound).
    queue_allowance_s: float = _size("IMGEN_REL_QUEUE_ALLOWANCE_S", 4, 4)


SIZE = SuiteSize()
#: How often test clients poll: shorter than the spec's 3 s so the suite stays short.
POLL_S = 0.25
#: A generous bound on any single job in a loaded CI machine.
JOB_BOUND_S = 240.0


def pg_binary(name: str) -> str | None:
    """A PostgreSQL server binary (``initdb``, ``pg_ctl``): Debian keeps them per version."""
    found = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class ThrowawayPostgres:
    """A private PostgreSQL cluster in a temp dir, run as the ``postgres`` OS user.

    Never the machine's own server: this one may be stopped and started at will
    (:meth:`stop`, :meth:`start`) with the same port and data.
    """

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="imgen-rel-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.initdb = pg_binary("initdb") or "initdb"
        self.pg_ctl = pg_binary("pg_ctl") or "pg_ctl"

    def _as_postgres(self, *args: str) -> None:
        command = list(args)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        """Create the cluster (trust auth, no fsync: it is thrown away)."""
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(self.initdb, "-D", str(self.data), "-A", "trust", "--no-sync", "-U", "postgres")

    def start(self) -> None:
        """Start (or start again) and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            self.pg_ctl, "-D", str(self.data), "-w", "-l", str(self.dir / "log"), "-o", options, "start"
        )

    def stop(self) -> None:
        """Stop fast: open connections are cut, as in a crash of the database host."""
        self._as_postgres(self.pg_ctl, "-D", str(self.data), "-w", "-m", "fast", "stop")

    def create_database(self, name: str) -> str:
        """A new database; returns its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def dsn(self, database: str) -> str:
        """A libpq connection string."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def destroy(self) -> None:
        """Stop if running and delete everything."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            try:
                self.stop()
            except subprocess.SubprocessError:
                pid = int(pid_file.read_text().splitlines()[0])
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class JobOutcome:
    """What became of one submitted job, as the API reported it."""

    job: dict[str, Any]
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return str(self.status.get("status", ""))


def run_bound_s(count: int) -> float:
    """How long :func:`run_jobs` waits for ``count`` jobs submitted at once (see there)."""
    return JOB_BOUND_S + count * SIZE.queue_allowance_s


def timeout_for_jobs(count: int) -> int:
    """A pytest timeout for a test that runs ``count`` jobs: their bound plus setup and checks."""
    return int(run_bound_s(count) + 180)


async def run_jobs(
    api_url: str, api_key: str, count: int, *, bound_s: float | None = None, **fields: Any
) -> list[JobOutcome]:
    """Submit ``count`` jobs at once and poll each until terminal (or the bound passes).

    The bound is one job's plus :attr:`SuiteSize.queue_allowance_s` per job, since they
    queue behind each other. Polling tolerates failed polls (a 5xx while a fault is on): a
    client following the spec retries on its next poll; only the job's final state counts.
    Jobs still pending at the bound are cancelled, so a failed run does not leave a
    backlog in front of the next test on the shared mesh.
    """
    if bound_s is None:
        bound_s = run_bound_s(count)
    async with AsyncImgenClient(api_url, api_key, timeout=60) as client:
        jobs = await asyncio.gather(
            *(client.submit(f"a lighthouse on a cliff, study {i}", seed=i, **fields) for i in range(count))
        )

        async def follow(job: dict[str, Any]) -> JobOutcome:
            outcome = JobOutcome(dict(job))
            deadline = time.monotonic() + bound_s
            while time.monotonic() < deadline:
                await asyncio.sleep(POLL_S)
                try:
                    outcome.status = dict(await client.status(job))  # type: ignore[arg-type]
                except Exception:  # a failed poll is retried, as the spec's clients do
                    continue
                if outcome.state in TERMINAL:
                    break
            return outcome

        outcomes = list(await asyncio.gather(*(follow(dict(job)) for job in jobs)))
        for outcome in outcomes:
            if outcome.state not in TERMINAL:
                with contextlib.suppress(Exception):
                    await client.cancel(outcome.job)
        return outcomes


def assert_all_terminal(outcomes: list[JobOutcome]) -> None:
    """Every job ended; a pending one after the bound is a lost job."""
    stuck = [(o.job["id"], o.state) for o in outcomes if o.state not in TERMINAL]
    assert not stuck, f"jobs that never ended: {stuck}"
    assert not [o for o in outcomes if o.state in PENDING]


def verify_delivered(meta: dict[str, Any]) -> None:
    """The signed image downloads, its PDQ is meta.fingerprint, and its C2PA manifest reads valid."""
    signed = next(image for image in meta["images"] if image["type"] == "signed")
    data = httpx.get(signed["url"], timeout=60).content
    with Image.open(io.BytesIO(data)) as image:
        rgb = np.asarray(image.convert("RGB"))
        mime = Image.MIME[image.format or "JPEG"]
    assert compute_pdq(rgb).hex == meta["fingerprint"], f"PDQ mismatch for {meta['id']}"
    verification = verify_manifest(data, mime, None)
    assert verification.state in ("Valid", "Trusted"), (meta["id"], verification)


def wait_serving(mesh: Mesh, names: list[str], timeout: float = 180.0) -> None:
    """Leave the mesh whole: every named process running (started again if dead) and serving."""
    deadline = time.monotonic() + timeout
    for name in names:
        if mesh.processes[name].poll() is not None:
            mesh.start_process(name)
        while not mesh.serving(name):
            assert time.monotonic() < deadline, f"{name} not serving again after {timeout:.0f}s"
            time.sleep(0.2)


def one_image(api_url: str, api_key: str, *, bound_s: float = JOB_BOUND_S) -> dict[str, Any]:
    """Generate one image and return its ``meta`` (the mesh works end to end)."""
    with ImgenClient(api_url, api_key, timeout=60) as client:
        from imgen.client import PollPolicy

        job = client.submit("a red kite over the dunes")
        return dict(client.wait(job, PollPolicy(interval_s=POLL_S, max_polls=int(bound_s / POLL_S))))
