"""Fixtures shared across the suite: one real mesh per test session, started as processes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The whole mesh on free loopback ports with a fresh data dir, as `imgen up` runs it."""
    from imgen.mesh import MeshConfig, running_mesh

    data_dir = tmp_path_factory.mktemp("mesh")
    with running_mesh(MeshConfig.ephemeral(data_dir), timeout=240) as running:
        yield running
