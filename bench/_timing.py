"""Median timings shared by the benchmarks, so every figure is taken the same way."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable


def median_ms(fn: Callable[[], object], rounds: int, warmup: int = 0) -> float:
    """Median wall time of ``fn`` in milliseconds over ``rounds`` calls, after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def amedian_ms(fn: Callable[[], Awaitable[object]], rounds: int, warmup: int = 0) -> float:
    """:func:`median_ms` for a coroutine function."""
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)
