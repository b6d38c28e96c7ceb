"""The client's address, as the limiter, nginx and the metrics allow-list all see it.

`REMOTE_ADDR` unless the peer is a trusted proxy (`TRUSTED_PROXIES`); only then the
right-most `X-Forwarded-For` entry that is not itself trusted. Entries left of that were
written by the client and can be forged, so they are never believed.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(
        ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip()
    )


def networks_from(entries: list[str] | tuple[str, ...]) -> tuple[Network, ...]:
    return _networks(tuple(entries))


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def address_in(address: str, networks: tuple[Network, ...]) -> bool:
    parsed = _parse(address)
    return parsed is not None and any(parsed in network for network in networks)


def client_ip(request: HttpRequest) -> str:
    """The client address as a string (cached on the request)."""
    cached: str | None = getattr(request, "_client_ip", None)
    if cached is not None:
        return cached
    ip = client_ip_from(
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", ""),
    )
    request._client_ip = ip  # type: ignore[attr-defined]  # a per-request cache, read above
    return ip


def client_ip_from(*, remote_addr: str, forwarded_for: str) -> str:
    trusted = networks_from(settings.TRUSTED_PROXIES)
    peer = _parse(remote_addr)
    if peer is None:
        return remote_addr or "unknown"
    if not trusted or not any(peer in network for network in trusted):
        return str(peer)
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()]
    candidate = peer
    for hop in reversed(hops):
        parsed = _parse(hop)
        if parsed is None:
            break  # garbage from here leftwards was written by the client
        candidate = parsed
        if not any(parsed in network for network in trusted):
            break
    return str(candidate)


def rate_limit_subject(ip: str) -> str:
    """IPv6 clients are keyed by /64 (one subscriber's usual allocation); IPv4 by address."""
    parsed = _parse(ip)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False).network_address) + "/64"
    return ip
