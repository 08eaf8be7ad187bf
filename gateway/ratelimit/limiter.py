"""Which limiter the gateway uses, chosen by its settings, and the checks it runs.

The app asks twice per API request: by client address before authentication (so a flood
of bad keys is throttled without touching the key store) and by API key after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from gateway.ratelimit.bucket import TokenBucketLimiter
from gateway.ratelimit.decision import UNLIMITED, Decision, Descriptor
from gateway.ratelimit.envoy_rls import EnvoyRateLimiter

if TYPE_CHECKING:
    from gateway.main import Settings

#: Descriptor keys, the same an envoyproxy/ratelimit configuration matches on.
REMOTE_ADDRESS = "remote_address"
API_KEY = "api_key"


class RateLimiter(Protocol):
    """Anything that can decide on one hit of a descriptor."""

    async def check(self, descriptor: Descriptor) -> Decision: ...

    async def close(self) -> None: ...


class NoLimiter:
    """``rate_limit_backend: off``: every request passes, no quota headers."""

    async def check(self, descriptor: Descriptor) -> Decision:
        return UNLIMITED

    async def close(self) -> None:
        """Nothing to release."""


def build_limiter(settings: Settings) -> RateLimiter:
    """The limiter named by ``settings.rate_limit_backend`` (memory, envoy or off).

    Must run inside the event loop for ``envoy``: grpc.aio binds the channel to it.
    """
    backend = settings.rate_limit_backend
    if backend == "off":
        return NoLimiter()
    if backend == "envoy":
        if not settings.rate_limit_addr:
            raise ValueError("rate_limit_backend 'envoy' needs rate_limit_addr")
        return EnvoyRateLimiter(
            settings.rate_limit_addr,
            settings.rate_limit_domain,
            settings,
            settings.rate_limit_timeout_s,
            settings.rate_limit_fail_open,
        )
    return TokenBucketLimiter(
        {
            REMOTE_ADDRESS: settings.rate_limit_ip_per_minute,
            API_KEY: settings.rate_limit_key_per_minute,
        }
    )


def by_address(address: str) -> Descriptor:
    """The descriptor checked before authentication."""
    return Descriptor.of(REMOTE_ADDRESS, address or "unknown")


def by_key(key_id: str) -> Descriptor:
    """The descriptor checked once the API key is known."""
    return Descriptor.of(API_KEY, key_id)
