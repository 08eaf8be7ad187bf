"""What a rate-limit check answers, and how that becomes HTTP headers.

Both limiters (the embedded token bucket and Envoy's rate-limit service) answer with the
same :class:`Decision`, so the app renders one set of headers whichever is configured.
"""

from __future__ import annotations

from dataclasses import dataclass

RATE_LIMITED = "Rate limit exceeded"
LIMITER_UNAVAILABLE = "Rate limit service unavailable"


@dataclass(frozen=True)
class Descriptor:
    """One rate-limit descriptor in Envoy's sense: ordered (key, value) entries.

    The gateway sends ``remote_address`` before authentication and ``api_key`` after it,
    the same keys an envoyproxy/ratelimit configuration matches on.
    """

    entries: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, key: str, value: str) -> Descriptor:
        """A one-entry descriptor."""
        return cls(((key, value),))

    @property
    def kind(self) -> str:
        """The first entry's key, which selects the embedded limiter's rule."""
        return self.entries[0][0] if self.entries else ""


@dataclass(frozen=True)
class Decision:
    """Whether one request may pass, and what to tell the client about its quota.

    ``limit`` is 0 when nothing is known about the quota (no rule, or the limit service
    was down and the limiter fails open); no quota headers are sent then.
    """

    allowed: bool
    limit: int = 0
    remaining: int = 0
    reset_s: int = 0
    retry_after_s: int = 0
    #: True when the limiter could not decide (limit service down) and refused anyway.
    unavailable: bool = False

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-Limit/Remaining/Reset`` and, when refused, ``Retry-After``."""
        headers: dict[str, str] = {}
        if self.limit > 0:
            headers["X-RateLimit-Limit"] = str(self.limit)
            headers["X-RateLimit-Remaining"] = str(max(0, self.remaining))
            headers["X-RateLimit-Reset"] = str(max(0, self.reset_s))
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.retry_after_s))
        return headers


#: The answer when no rule applies.
UNLIMITED = Decision(allowed=True)


def tighter(first: Decision, second: Decision) -> Decision:
    """The decision to report when two checks passed: the one with less quota left."""
    if first.limit == 0:
        return second
    if second.limit == 0:
        return first
    return first if first.remaining <= second.remaining else second
