"""Sign-in throttling: a sliding window of failures per client address.

In memory per replica: it slows a password guesser down to a handful of tries per
window per address, which with a 120-bit generated password is more than enough.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class LoginLimiter:
    """Allows ``max_failures`` failed sign-ins per address in ``window_s`` seconds."""

    def __init__(
        self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str) -> deque[float]:
        now = self._clock()
        failures = self._failures.setdefault(address, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures

    def blocked(self, address: str) -> bool:
        """Whether ``address`` used up its failures for now."""
        return len(self._recent(address)) >= self.max_failures

    def retry_after_s(self, address: str) -> int:
        """Seconds until ``address`` may try again."""
        failures = self._recent(address)
        if len(failures) < self.max_failures:
            return 0
        return max(1, int(failures[0] + self.window_s - self._clock()) + 1)

    def failed(self, address: str) -> None:
        """Count one failed sign-in."""
        self._recent(address).append(self._clock())
        if len(self._failures) > 10_000:
            self._failures = {a: f for a, f in self._failures.items() if f}

    def succeeded(self, address: str) -> None:
        """Forget the address's failures."""
        self._failures.pop(address, None)
