"""Who sent a request: the client's address behind trusted proxies, and the key its
limits are counted under (pure, and a middleware).

Behind a proxy (an Ingress, nginx, a load balancer) every request comes from the
proxy's address, and per-address limits (accounts opened, password guesses) would be
one for the whole site. ``--trusted-proxies`` (``CHAT_TRUSTED_PROXIES``: addresses or
networks, comma-separated) names the proxies whose ``X-Forwarded-For`` is believed:
the client is the nearest address in that header that is not one of them (a client
can write anything at the start of the header; only what our proxies appended is
trusted). Without it the header is ignored: anyone could claim any address.

An IPv6 client is counted by its /64 (one host usually has a whole /64 to pick from);
an IPv4 client by its address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from common.httpconns import address_key

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(spec: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.168.1.7"`` as networks; ValueError naming what is not one."""
    found = []
    for item in (part.strip() for part in spec.split(",")):
        if item:
            try:
                found.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"not an address or a network: {item[:60]!r}") from None
    return tuple(found)


def trusted(address: str, proxies: Iterable[Network]) -> bool:
    """Whether ``address`` is one of the proxies."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client(remote: str | None, forwarded_for: str | None, proxies: tuple[Network, ...]) -> str:
    """The client's address: ``remote`` unless it is a trusted proxy, then the nearest
    address of ``X-Forwarded-For`` (read from its end) that is not one."""
    address = remote or ""
    if not proxies or not forwarded_for or not trusted(address, proxies):
        return address
    for hop in reversed(forwarded_for.split(",")):
        hop = hop.strip()
        if not hop:
            continue
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # not an address: what the proxy itself saw is all we know
        if not trusted(hop, proxies):
            return hop
        address = hop
    return address


key = address_key  # what a client's per-address limits are counted under (common's)


def middleware(proxies: tuple[Network, ...]) -> Any:
    """Requests whose ``remote`` is their client's address (see the module)."""

    @web.middleware
    async def real_remote(request: web.Request, handler: Any) -> web.StreamResponse:
        if proxies:
            found = client(request.remote, request.headers.get("X-Forwarded-For"), proxies)
            if found != request.remote:
                request = request.clone(remote=found)
        return await handler(request)  # type: ignore[no-any-return]

    return real_remote
