"""Where a webhook may be delivered: no private, loopback or link-local address by default.

The check runs on the addresses the host *resolves to*, at delivery time, and the request
then goes to the very address that was checked (the host name only travels in ``Host`` and
in TLS SNI). Checking the name and then letting the HTTP client resolve it again would let a
DNS answer that changes in between (rebinding) reach an internal address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetRefused(Exception):
    """The webhook URL points somewhere the gateway must not send requests."""


@dataclass(frozen=True)
class AllowList:
    """Hosts and networks allowed even though they are not public (``webhook_allowed_hosts``)."""

    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: Sequence[str]) -> AllowList:
        """Entries are host names (exact, case-insensitive), addresses or CIDR networks."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        return host.lower().rstrip(".") in self.hosts or any(address in net for net in self.networks)


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not private, loopback, link-local, multicast, reserved or unspecified."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class Target:
    """A checked destination: the URL to connect to (host replaced by the address) and the real host."""

    url: str
    host_header: str
    sni_hostname: str | None


async def resolve(url: str, allow: AllowList) -> Target:
    """Resolve ``url``'s host and pin the request to an address the policy permits."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"cannot resolve {host}: {exc}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"{host} has no address")
    refused = [a for a in addresses if not is_public(a) and not allow.allows(host, a)]
    if refused:
        # every address must pass: the first one is not necessarily the one a retry gets
        raise TargetRefused(f"{host} resolves to a non-public address ({refused[0]})")
    address = addresses[0]
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host_header = parts.netloc.rpartition("@")[2]
    sni = host if parts.scheme == "https" and not _is_literal(host) else None
    return Target(
        url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        host_header=host_header,
        sni_hostname=sni,
    )


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
