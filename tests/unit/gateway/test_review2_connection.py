"""Review of the gateway's Connection shell: deadlines after a refused handshake."""

from __future__ import annotations

import asyncio

from websockets.http11 import Request

from gateway.connection import Connection
from tests.unit.gateway.test_connection import (
    SHORT,
    Peer,
    close_frame,
    close_of,
    read_frames,
    read_response,
    short_timeouts,
    text,
    upgrade_request,
)

__all__ = ["short_timeouts"]  # the fixture, imported for its side effect


async def test_a_refused_connection_is_aborted_within_close_timeout_even_if_the_peer_keeps_sending(
    short_timeouts: None,
) -> None:
    peer = Peer()
    peer.send(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")  # no upgrade: 426
    assert read_response(peer.transport.take())[0].status_code == 426
    assert peer.transport.eof
    loop = asyncio.get_running_loop()
    start = loop.time()
    # one byte every half deadline, for four deadlines
    while loop.time() - start < 4 * SHORT and not peer.transport.aborted:
        await asyncio.sleep(SHORT / 2)
        if not peer.transport.aborted:
            peer.send(b"x")
    assert peer.transport.aborted


async def test_early_frames_of_a_client_closed_while_accepted_are_still_parsed() -> None:
    # GatewayServer closes a client it just accepted when no worker can take its
    # events (1013): the bytes after the request must still go through a frame parser
    peer = Peer()
    accept = peer.gateway._on_request

    def accept_then_close(conn: Connection, request: Request) -> None:
        accept(conn, request)
        conn.close(1013, "no business worker")

    peer.gateway._on_request = accept_then_close  # type: ignore[method-assign]
    close = close_frame(1013, "no business worker")
    peer.send(upgrade_request() + text("early") + close[:3])
    peer.send(close[3:])  # the client's answer to our close, split across reads
    response, rest = read_response(peer.transport.take())
    assert response.status_code == 101
    [ours] = read_frames(rest)
    assert close_of(ours).code == 1013
    assert peer.gateway.received() == ["early"]  # delivered while closing, as websockets does
    assert peer.conn.protocol.close_rcvd is not None  # the answer was parsed as a close
    assert peer.conn.protocol.close_rcvd.code == 1013
    assert peer.transport.eof  # the closing handshake ended: TCP half-closed
