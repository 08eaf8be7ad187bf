"""Fixtures shared by the storage tests: both backends behind one harness."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Harness, LocalHarness, S3Harness
from .seaweed import SeaweedServer, seaweed

__all__ = ["seaweed"]


@pytest.fixture
def local_harness(tmp_path: Path) -> LocalHarness:
    """The local backend on a private directory with a controllable clock."""
    return LocalHarness(tmp_path / "objects", secrets.token_bytes(32))


@pytest.fixture(scope="session")
def contract_bucket(seaweed: SeaweedServer) -> str:
    """One bucket for the contract tests (creating a bucket costs SeaweedFS ~0.5 s)."""
    return seaweed.create_bucket()


@pytest.fixture
def s3_harness(seaweed: SeaweedServer, contract_bucket: str) -> Iterator[S3Harness]:
    """The S3 backend on the session's SeaweedFS, its bucket emptied first."""
    empty_bucket(seaweed, contract_bucket)
    harness = S3Harness(seaweed, contract_bucket)
    try:
        yield harness
    finally:
        harness.store.close()


def empty_bucket(server: SeaweedServer, bucket: str) -> None:
    """Remove every object so each test starts from an empty store."""
    client = server.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


@pytest.fixture(params=["local", "s3"])
def harness(request: pytest.FixtureRequest) -> Harness:
    """Each backend in turn, for the contract every store must keep."""
    return request.getfixturevalue(f"{request.param}_harness")
