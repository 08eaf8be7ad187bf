"""The fingerprint index: payloads matched within a few bits, PDQ nearest match, shared by replicas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.provenance import registry as registry_module
from services.provenance.invisible import payload_for
from services.provenance.registry import FingerprintRegistry, sqlite_url

KEY = bytes(range(32))


def random_pdq(rng: np.random.Generator) -> str:
    return rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()


def flip_bits(hex_hash: str, count: int, rng: np.random.Generator) -> str:
    value = int(hex_hash, 16)
    for bit in rng.choice(len(hex_hash) * 4, size=count, replace=False):
        value ^= 1 << int(bit)
    return f"{value:0{len(hex_hash)}x}"


@pytest.fixture
def registry(tmp_path: Path) -> FingerprintRegistry:
    return FingerprintRegistry(sqlite_url(tmp_path / "fingerprints.sqlite3"))


def test_payload_matches_within_a_few_bits_and_strangers_do_not(registry: FingerprintRegistry) -> None:
    rng = np.random.default_rng(1)
    for n in range(50):
        gen_id = f"gen{n:017d}"
        registry.record(gen_id, f"run_{n}", payload_for(KEY, gen_id).hex(), random_pdq(rng), 90)
    wanted = payload_for(KEY, "gen00000000000000017")
    exact = registry.match_payload(wanted)
    assert exact is not None and exact.generation.gen_id == "gen00000000000000017" and exact.bit_errors == 0
    assert exact.generation.job_id == "run_17"
    damaged = bytes.fromhex(flip_bits(wanted.hex(), 3, rng))
    near = registry.match_payload(damaged)
    assert near is not None and near.generation.gen_id == "gen00000000000000017" and near.bit_errors == 3
    assert registry.match_payload(payload_for(KEY, "not-ours")) is None


def test_nearest_fingerprint_with_distance(registry: FingerprintRegistry) -> None:
    rng = np.random.default_rng(2)
    hashes = [random_pdq(rng) for _ in range(30)]
    for n, pdq in enumerate(hashes):
        registry.record(f"g{n}", "", "", pdq, 90)
    query = flip_bits(hashes[12], 9, rng)
    match = registry.nearest(query, 31)
    assert match is not None and (match.generation.gen_id, match.distance) == ("g12", 9)
    assert registry.nearest(flip_bits(hashes[12], 40, rng), 31) is None
    assert registry.nearest(random_pdq(rng), 31) is None


def test_banded_index_and_recent_rows_agree(registry: FingerprintRegistry, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(registry_module, "REBUILD_AFTER", 8)
    rng = np.random.default_rng(3)
    hashes = [random_pdq(rng) for _ in range(40)]
    for n, pdq in enumerate(hashes[:20]):
        registry.record(f"g{n}", "", "", pdq, 90)
    assert len(registry) == 20  # first refresh builds the banded index over 20 rows
    for n, pdq in enumerate(hashes[20:], start=20):
        registry.record(f"g{n}", "", "", pdq, 90)
    for n in (3, 19, 25, 39):  # in the banded index, and among the scanned recent rows
        match = registry.nearest(flip_bits(hashes[n], 5, rng), 31)
        assert match is not None and (match.generation.gen_id, match.distance) == (f"g{n}", 5)


def test_replicas_sharing_a_database_see_each_others_rows(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "shared.sqlite3")
    first, second = FingerprintRegistry(url), FingerprintRegistry(url)
    rng = np.random.default_rng(4)
    pdq = random_pdq(rng)
    assert second.nearest(pdq, 31) is None
    first.record("genfromfirstreplica0", "run_x", payload_for(KEY, "a").hex(), pdq, 90)
    match = second.nearest(pdq, 31)
    assert match is not None and match.generation.gen_id == "genfromfirstreplica0"
    assert match.generation.created_at.tzinfo is not None
