"""common.httpconns: connections one address may hold (a fake server, fake transports)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from common.httpconns import address_key, cap_per_address


class Transport:
    def __init__(self, host: str) -> None:
        self.host = host
        self.aborted = False

    def get_extra_info(self, name: str) -> Any:
        return (self.host, 50000) if name == "peername" else None

    def abort(self) -> None:
        self.aborted = True


class Server:
    """aiohttp's web.Server, as far as the cap uses it: its two hooks."""

    def __init__(self) -> None:
        self.connections: dict[object, Transport] = {}

    def connection_made(self, handler: object, transport: Transport) -> None:
        self.connections[handler] = transport

    def connection_lost(self, handler: object, exc: BaseException | None = None) -> None:
        self.connections.pop(handler, None)


def test_an_address_holds_at_most_the_limit_and_a_lost_one_frees_its_place(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = Server()
    cap_per_address(server, 2, logging.getLogger("test.conns"), lambda host: host == "10.9.9.9")  # type: ignore[arg-type]
    made = [(object(), Transport("10.0.0.1")) for _ in range(3)]
    for handler, transport in made:
        server.connection_made(handler, transport)
    assert [t.aborted for _, t in made] == [False, False, True]
    other = Transport("10.0.0.2")
    server.connection_made(object(), other)  # another address: its own count
    proxy = [Transport("10.9.9.9") for _ in range(5)]
    for transport in proxy:
        server.connection_made(object(), transport)  # exempt: never counted
    assert not other.aborted and not any(t.aborted for t in proxy)
    server.connection_lost(made[2][0])  # the refused one: it held no place
    again = Transport("10.0.0.1")
    server.connection_made(object(), again)
    assert again.aborted
    server.connection_lost(made[0][0])
    later = Transport("10.0.0.1")
    server.connection_made(object(), later)
    assert not later.aborted
    assert "refused a connection from 10.0.0.1: it holds 2 already" in caplog.text


def test_ipv6_hosts_are_counted_by_their_64() -> None:
    server = Server()
    cap_per_address(server, 1, logging.getLogger("test.conns"))  # type: ignore[arg-type]
    first, second = Transport("2001:db8::1"), Transport("2001:db8::2")
    server.connection_made(object(), first)
    server.connection_made(object(), second)
    assert (first.aborted, second.aborted) == (False, True)
    assert address_key("::ffff:10.0.0.1") == "10.0.0.1"
    assert address_key("2001:db8:0:0:5::1") == "2001:db8::/64"
