"""``status`` answers of finished jobs, reused for a short window so polling stays cheap.

A job in a terminal state never changes, so rendering it again on every poll only costs
two upstream calls (GetJob, PresignUrls) for the same answer. What does age is the
pre-signed URLs inside it, and the spec promises URLs "pre-signed afresh on each poll":
its intent is that a client never receives a URL that expires soon after it got it. So
an answer is reused for at most ``reuse_s`` seconds and at most a tenth
(:data:`MAX_LIFETIME_FRACTION`) of the remaining lifetime of its URLs when it was made:
every URL handed out still has at least 90% of its lifetime ahead of it. When the window
ends the job is read and signed again, which also notices within that window a job whose
record or images retention has removed. Pending jobs are never cached.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Largest share of its URLs' remaining lifetime for which an answer may be reused.
MAX_LIFETIME_FRACTION = 0.1


@dataclass(frozen=True)
class _Entry:
    answer: dict[str, Any]
    reuse_until: float  # on the cache's monotonic clock


def reuse_window(reuse_s: float, urls_expire_at: float | None, now_unix: float) -> float:
    """Seconds an answer may be reused: ``reuse_s``, shortened to keep its URLs fresh.

    ``urls_expire_at`` is the earliest expiry (Unix seconds) of the URLs in the answer,
    None when it holds none.
    """
    if urls_expire_at is None:
        return reuse_s
    return max(0.0, min(reuse_s, (urls_expire_at - now_unix) * MAX_LIFETIME_FRACTION))


class StatusCache:
    """Answers by job id, each valid for its own window; least recently used dropped first.

    Callers must treat a returned answer as read-only: the same dict goes to every poll.
    """

    def __init__(
        self,
        reuse_s: float,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.reuse_s = reuse_s
        self.max_entries = max_entries
        self._monotonic = monotonic
        self._wall = wall
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The answer for ``job_id`` while its window lasts, else None."""
        entry = self._entries.get(job_id)
        if entry is None:
            return None
        if entry.reuse_until <= self._monotonic():
            del self._entries[job_id]
            return None
        self._entries.move_to_end(job_id)
        return entry.answer

    def put(self, job_id: str, answer: dict[str, Any], urls_expire_at: float | None = None) -> None:
        """Keep ``answer`` (of a terminal job) for its window; nothing when the window is empty."""
        window = reuse_window(self.reuse_s, urls_expire_at, self._wall())
        if window <= 0 or self.max_entries <= 0:
            return
        self._entries[job_id] = _Entry(answer, self._monotonic() + window)
        self._entries.move_to_end(job_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, job_id: str) -> None:
        """Drop ``job_id`` (e.g. the job was just changed through this gateway)."""
        self._entries.pop(job_id, None)
