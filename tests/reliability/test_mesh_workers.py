"""The mesh's extra worker processes, as configured (no process started: fast)."""

from __future__ import annotations

from pathlib import Path

from imgen.mesh import WORKER_PREFIX, Mesh, MeshConfig


def test_add_workers_names_and_ports(tmp_path: Path) -> None:
    config = MeshConfig.ephemeral(tmp_path)
    config.add_workers(2)
    config.add_workers(1)
    assert list(config.worker_ports) == [f"{WORKER_PREFIX}{n}" for n in (1, 2, 3)]
    ports = [*config.worker_ports.values(), *config.ports.values(), config.gateway_port]
    assert len(set(ports)) == len(ports)
    mesh = Mesh(config)
    assert mesh.grpc_address(f"{WORKER_PREFIX}2") == f"127.0.0.1:{config.worker_ports[WORKER_PREFIX + '2']}"
    assert mesh.grpc_address("prompt") == f"127.0.0.1:{config.ports['prompt']}"
