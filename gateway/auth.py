"""Bearer-key authentication for requests, without a database write per request.

Verification results are cached, and the cache is dropped whenever the store's revision
row moves: every replica reads that one row at most every ``revision_check_s`` (one
indexed read shared by all requests in flight), so a key disabled, rotated or deleted on
any replica is refused everywhere within that interval; an expired key is refused by
the cached record itself. ``invalidate`` makes the replica that made the change refuse
at once. Request counts accumulate in memory per key and UTC day and are flushed in
batches by a background task with an atomic increment.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, date, datetime

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
    """Verifies keys through a revision-checked cache and counts their requests."""

    def __init__(
        self,
        store: KeyStore,
        cache_ttl_s: float = 2.0,
        flush_interval_s: float = 1.0,
        revision_check_s: float = 1.0,
    ) -> None:
        self.store = store
        self.cache_ttl_s = cache_ttl_s
        self.flush_interval_s = flush_interval_s
        self.revision_check_s = revision_check_s
        self._cache: dict[str, tuple[ApiKeyRecord | None, float]] = {}
        self._counts: Counter[tuple[str, date]] = Counter()
        self._last_used: dict[str, datetime] = {}
        self._revision: int | None = None
        self._revision_checked_at = float("-inf")
        self._revision_check: asyncio.Future[None] | None = None

    async def authenticate(self, header: str | None) -> ApiKeyRecord | None:
        """The enabled, unexpired key presented in ``header``, counted once; None if refused."""
        token = bearer_token(header)
        if token is None or not looks_like_key(token):
            return None
        record = await self._verify(token)
        if record is None or record.expired():
            return None
        now = datetime.now(UTC)
        self._counts[(record.id, now.date())] += 1
        self._last_used[record.id] = now
        return record

    def invalidate(self) -> None:
        """Forget every cached verification (this replica just changed a key)."""
        self._cache = {}
        self._revision_checked_at = float("-inf")

    async def _verify(self, token: str) -> ApiKeyRecord | None:
        await self._check_revision()
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

    async def _check_revision(self) -> None:
        """Drop the cache when the store's revision moved; one read in flight at a time."""
        if time.monotonic() - self._revision_checked_at < self.revision_check_s:
            return
        if self._revision_check is not None:
            await asyncio.shield(self._revision_check)
            return
        self._revision_check = asyncio.get_running_loop().create_future()
        try:
            revision = await anyio.to_thread.run_sync(self.store.revision)
            if revision != self._revision:
                self._cache = {}
                self._revision = revision
            self._revision_checked_at = time.monotonic()
        finally:
            self._revision_check.set_result(None)
            self._revision_check = None

    def take_pending(self) -> dict[str, Usage]:
        """Hand over the counts accumulated so far and start new ones."""
        counts, self._counts = self._counts, Counter()
        last_used, self._last_used = self._last_used, {}
        by_key: dict[str, dict[date, int]] = {}
        for (key_id, day), n in counts.items():
            if n:
                by_key.setdefault(key_id, {})[day] = n
        return {key_id: Usage(sum(days.values()), last_used[key_id], days) for key_id, days in by_key.items()}

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
                for day, n in usage.days().items():
                    self._counts[(key_id, day)] += n
                self._last_used.setdefault(key_id, usage.last_used_at)

    async def run_flusher(self) -> None:
        """Flush every ``flush_interval_s`` until cancelled, then flush once more."""
        try:
            while True:
                await asyncio.sleep(self.flush_interval_s)
                await self.flush()
        finally:
            await asyncio.shield(self.flush())
