"""Rate limits per client address and per API key: embedded token bucket or Envoy's RLS."""

from gateway.ratelimit.decision import LIMITER_UNAVAILABLE, RATE_LIMITED, Decision, Descriptor, tighter
from gateway.ratelimit.limiter import RateLimiter, build_limiter, by_address, by_key

__all__ = [
    "LIMITER_UNAVAILABLE",
    "RATE_LIMITED",
    "Decision",
    "Descriptor",
    "RateLimiter",
    "build_limiter",
    "by_address",
    "by_key",
    "tighter",
]
