"""A client of Envoy's rate-limit service (``envoy.service.ratelimit.v3.RateLimitService``).

Speaking that protocol lets a deployment point the gateway at envoyproxy/ratelimit (Redis
backed, shared by every replica, configured per domain and descriptor). The gateway asks
one question per descriptor and reads the answer's quota fields for the response headers.
When the service cannot be reached in time the configured failure mode decides: open
(let the request through without quota headers) or closed (refuse it).
"""

from __future__ import annotations

import math

import grpc
from envoy.extensions.common.ratelimit.v3 import ratelimit_pb2
from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc

from gateway.ratelimit.decision import UNLIMITED, Decision, Descriptor
from services.shared.channels import open_channel
from services.shared.logging import get_logger
from services.shared.settings import ServiceSettings

log = get_logger(__name__)

_UNIT_SECONDS = {
    rls_pb2.RateLimitResponse.RateLimit.SECOND: 1,
    rls_pb2.RateLimitResponse.RateLimit.MINUTE: 60,
    rls_pb2.RateLimitResponse.RateLimit.HOUR: 3600,
    rls_pb2.RateLimitResponse.RateLimit.DAY: 86400,
    rls_pb2.RateLimitResponse.RateLimit.WEEK: 7 * 86400,
    rls_pb2.RateLimitResponse.RateLimit.MONTH: 30 * 86400,
    rls_pb2.RateLimitResponse.RateLimit.YEAR: 365 * 86400,
}


def rls_request(domain: str, descriptor: Descriptor) -> rls_pb2.RateLimitRequest:
    """The ShouldRateLimit request for one hit on ``descriptor``."""
    return rls_pb2.RateLimitRequest(
        domain=domain,
        descriptors=[
            ratelimit_pb2.RateLimitDescriptor(
                entries=[
                    ratelimit_pb2.RateLimitDescriptor.Entry(key=key, value=value)
                    for key, value in descriptor.entries
                ]
            )
        ],
        hits_addend=1,
    )


def decision_from(reply: rls_pb2.RateLimitResponse) -> Decision:
    """Our :class:`Decision` from the service's answer (quota from the first status with a limit)."""
    allowed = reply.overall_code != rls_pb2.RateLimitResponse.OVER_LIMIT
    status = next((s for s in reply.statuses if s.HasField("current_limit")), None)
    if status is None:
        return UNLIMITED if allowed else Decision(allowed=False, retry_after_s=1)
    unit_s = _UNIT_SECONDS.get(status.current_limit.unit, 1)
    if status.HasField("duration_until_reset"):
        reset_s = max(1, math.ceil(status.duration_until_reset.ToTimedelta().total_seconds()))
    else:
        reset_s = unit_s
    return Decision(
        allowed=allowed,
        limit=int(status.current_limit.requests_per_unit),
        remaining=int(status.limit_remaining),
        reset_s=reset_s,
        retry_after_s=0 if allowed else reset_s,
    )


class EnvoyRateLimiter:
    """Asks an Envoy rate-limit service about each request."""

    def __init__(
        self,
        address: str,
        domain: str,
        settings: ServiceSettings,
        timeout_s: float,
        fail_open: bool,
    ) -> None:
        self.domain = domain
        self.fail_open = fail_open
        self.timeout_s = timeout_s
        self._channel = open_channel(address, settings, timeout_s)
        self._stub = rls_pb2_grpc.RateLimitServiceStub(self._channel)

    async def check(self, descriptor: Descriptor) -> Decision:
        """One ShouldRateLimit call; a failed call follows the failure mode."""
        try:
            reply = await self._stub.ShouldRateLimit(
                rls_request(self.domain, descriptor), timeout=self.timeout_s
            )
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            log.warning(
                "rate limit service failed",
                code=getattr(code, "name", str(code)),
                fail_open=self.fail_open,
            )
            return UNLIMITED if self.fail_open else Decision(allowed=False, retry_after_s=1, unavailable=True)
        return decision_from(reply)

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()
