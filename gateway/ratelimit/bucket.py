"""The embedded default: an in-process token bucket per descriptor.

A rule of N requests per minute is a bucket of N tokens refilled at N/60 per second, so a
client may burst up to N and then sustain N a minute. State lives in this process only;
several replicas each allow the full rate, which is why a deployment points the gateway
at Envoy's rate-limit service instead (:mod:`gateway.ratelimit.envoy_rls`).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.ratelimit.decision import UNLIMITED, Decision, Descriptor


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """Per-descriptor token buckets with one per-minute rule per descriptor kind."""

    def __init__(
        self,
        per_minute: Mapping[str, int],
        max_buckets: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = {kind: n for kind, n in per_minute.items() if n > 0}
        self.max_buckets = max_buckets
        self.clock = clock
        self._buckets: OrderedDict[tuple[tuple[str, str], ...], _Bucket] = OrderedDict()

    async def check(self, descriptor: Descriptor) -> Decision:
        """Take one token from the descriptor's bucket, or refuse with the wait until one refills."""
        limit = self.per_minute.get(descriptor.kind, 0)
        if limit <= 0:
            return UNLIMITED
        rate = limit / 60.0
        now = self.clock()
        bucket = self._buckets.get(descriptor.entries)
        if bucket is None:
            bucket = _Bucket(tokens=float(limit), updated=now)
            self._buckets[descriptor.entries] = bucket
            if len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)  # the least recently used client forgets its debt
        else:
            self._buckets.move_to_end(descriptor.entries)
            bucket.tokens = min(float(limit), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        allowed = bucket.tokens >= 1.0
        if allowed:
            bucket.tokens -= 1.0
        reset_s = math.ceil((limit - bucket.tokens) / rate)
        retry_after_s = 0 if allowed else math.ceil((1.0 - bucket.tokens) / rate)
        return Decision(
            allowed=allowed,
            limit=limit,
            remaining=int(bucket.tokens),
            reset_s=reset_s,
            retry_after_s=retry_after_s,
        )

    async def close(self) -> None:
        """Nothing to release."""
