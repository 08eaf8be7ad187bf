"""Benchmark: PDQ hash-list lookup at a million hashes, against a brute-force scan.

Usage: ``python -m services.compliance.bench.bench_pdq_index [--size N] [--queries Q]``.
The baseline is the same run's vectorised brute force (XOR + popcount over every row),
so the printed ratio holds on any machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from services.shared.pdq_index import PdqIndex


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--max-distance", type=int, default=31)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    stored = rng.integers(0, 256, (args.size, 32), dtype=np.uint8)
    started = time.perf_counter()
    index = PdqIndex(stored)
    build_s = time.perf_counter() - started

    queries = []
    for _ in range(args.queries):
        bits = np.unpackbits(stored[rng.integers(0, args.size)])
        bits[rng.choice(256, int(rng.integers(0, args.max_distance + 1)), replace=False)] ^= 1
        queries.append(np.packbits(bits))

    indexed, brute = [], []
    for query in queries:
        started = time.perf_counter()
        found = {m.row for m in index.search(query, args.max_distance)}
        indexed.append(time.perf_counter() - started)
    for query in queries[: max(10, args.queries // 10)]:
        started = time.perf_counter()
        expected = set(np.flatnonzero(index.distances(query) <= args.max_distance).tolist())
        brute.append(time.perf_counter() - started)
        assert expected == {m.row for m in index.search(query, args.max_distance)}
    assert found

    index_ms = statistics.median(indexed) * 1000
    brute_ms = statistics.median(brute) * 1000
    print(f"hashes: {args.size:,}  build: {build_s:.2f} s")
    print(f"banded index lookup (median of {len(indexed)}): {index_ms:.3f} ms")
    print(f"brute-force scan baseline (median of {len(brute)}): {brute_ms:.3f} ms")
    print(f"speed-up vs baseline: {brute_ms / index_ms:.1f}x")


if __name__ == "__main__":
    main()
