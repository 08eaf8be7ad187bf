"""Bearer-key authentication for requests, without a database write per request.

Verification results are cached for a couple of seconds (so a key disabled by an
operator is refused within that time, and a burst of requests costs one lookup), and
request counts accumulate in memory and are flushed in batches by a background task
with an atomic increment.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime

import anyio.to_thread

from gateway.keys import ApiKeyRecord, KeyStore, Usage, hash_key, looks_like_key
from services.shared.logging import get_logger

log = get_logger(__name__)


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


class KeyAuthenticator:
    """Verifies keys through a short TTL cache and counts their requests."""

    def __init__(self, store: KeyStore, cache_ttl_s: float = 2.0, flush_interval_s: float = 1.0) -> None:
        self.store = store
        self.cache_ttl_s = cache_ttl_s
        self.flush_interval_s = flush_interval_s
        self._cache: dict[str, tuple[ApiKeyRecord | None, float]] = {}
        self._counts: Counter[str] = Counter()
        self._last_used: dict[str, datetime] = {}

    async def authenticate(self, header: str | None) -> ApiKeyRecord | None:
        """The enabled key presented in ``header``, counted once; None if refused."""
        token = bearer_token(header)
        if token is None or not looks_like_key(token):
            return None
        record = await self._verify(token)
        if record is not None:
            self._counts[record.id] += 1
            self._last_used[record.id] = datetime.now(UTC)
        return record

    async def _verify(self, token: str) -> ApiKeyRecord | None:
        digest = hash_key(token)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        record = await anyio.to_thread.run_sync(self.store.verify, token)
        if len(self._cache) > 10_000:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
        self._cache[digest] = (record, now + self.cache_ttl_s)
        return record

    def take_pending(self) -> dict[str, Usage]:
        """Hand over the counts accumulated so far and start new ones."""
        counts, self._counts = self._counts, Counter()
        last_used, self._last_used = self._last_used, {}
        return {key_id: Usage(n, last_used[key_id]) for key_id, n in counts.items() if n}

    async def flush(self) -> None:
        """Write pending counts; on failure put them back for the next round."""
        pending = self.take_pending()
        if not pending:
            return
        try:
            await anyio.to_thread.run_sync(self.store.record_usage, pending)
        except Exception:
            log.exception("could not record key usage; will retry")
            for key_id, usage in pending.items():
                self._counts[key_id] += usage.count
                self._last_used.setdefault(key_id, usage.last_used_at)

    async def run_flusher(self) -> None:
        """Flush every ``flush_interval_s`` until cancelled, then flush once more."""
        try:
            while True:
                await asyncio.sleep(self.flush_interval_s)
                await self.flush()
        finally:
            await asyncio.shield(self.flush())
