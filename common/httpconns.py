"""The connections of an aiohttp server (the chat's backend, ``gw api``): how long one
may be silent, and how many one address may hold.

- A connection that sends no complete request for :data:`IDLE_TIMEOUT` seconds (none
  at all, a request head dripped a line at a time, nothing after its last answer) is
  closed: aiohttp's ``keepalive_timeout``, which it also runs before a first request.
  Its own default is an hour, in which one client could hold every file the process
  may open.
- An address holds at most ``limit`` connections at once (:func:`cap_per_address`):
  one more is closed as it is accepted, and said in the log a line a second. Addresses
  named as proxies are not capped (every client behind one comes from it).
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .logs import Throttled

IDLE_TIMEOUT = 15.0  # s without a complete request: closed
PER_ADDRESS = 256  # connections one address may hold at once


def cap_per_address(
    server: web.Server,
    limit: int,
    log: logging.Logger,
    exempt: Callable[[str], bool] = lambda address: False,
) -> None:
    """Hold ``server``'s connections to ``limit`` per address (:func:`address_key`;
    ``exempt``: hosts not counted, as a trusted proxy). Wraps the server's hooks that aiohttp's
    connections call as they are made and lost."""
    throttled = Throttled(log)
    counts: Counter[str] = Counter()
    counted: dict[Any, str] = {}  # connection -> its address
    made, lost = server.connection_made, server.connection_lost

    def connection_made(handler: Any, transport: Any) -> None:
        made(handler, transport)
        peer = transport.get_extra_info("peername")
        host = str(peer[0]) if peer else ""
        if not host or exempt(host):
            return
        address = address_key(host)
        if counts[address] >= limit:
            throttled.warning(
                "per-address",
                "refused a connection from %s: it holds %d already (the limit per address)",
                address,
                limit,
            )
            transport.abort()
            return
        counts[address] += 1
        counted[handler] = address

    def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
        lost(handler, exc)
        address = counted.pop(handler, None)
        if address is not None:
            counts[address] -= 1
            if counts[address] <= 0:
                del counts[address]

    server.connection_made = connection_made  # type: ignore[method-assign]
    server.connection_lost = connection_lost  # type: ignore[method-assign]


def address_key(address: str) -> str:
    """What a client's per-address limits are counted under: its IPv4 address, or the
    /64 of its IPv6 address (one host has many of its addresses)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d: an IPv4 client
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
