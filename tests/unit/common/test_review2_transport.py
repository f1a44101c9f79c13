"""Review of common.transport.Channel: a held send made from _ready can eat the edge."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import msgpack
import pytest
import zmq
import zmq.asyncio

from common import transport as transport_module
from common.config import Security
from common.transport import Channel, Transport


class _ArmedSend:
    """Channel's send, with a peer whose message lands during the next send.

    A peer may send at any moment; this makes its message arrive exactly between
    ``_ready``'s read of EVENTS and its send of a held batch (the window is a few
    microseconds in real life; the sleep makes the send's throttled command processing
    run, as it does when the last send was more than ~1 ms ago).
    """

    def __init__(self, real: Any, peer_sends: Any) -> None:
        self._real = real
        self._peer_sends = peer_sends
        self.armed = False

    def __call__(self, sock: Any, data: bytes, flags: int = 0) -> Any:
        if self.armed:
            self.armed = False
            self._peer_sends()
            time.sleep(0.01)
        return self._real(sock, data, flags)


async def test_a_message_arriving_while_held_sends_are_released_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = Transport(Security())
    sender = transport.socket(zmq.PAIR, server=True)
    receiver = transport.socket(zmq.PAIR, server=False)
    for sock in (sender, receiver):
        sock.setsockopt(zmq.SNDHWM, 1)
        sock.setsockopt(zmq.RCVHWM, 1)
    sender.bind("inproc://review2-held")
    receiver.connect("inproc://review2-held")
    peer: zmq.Socket[bytes] = zmq.Socket.shadow(receiver.underlying)
    got: list[list[bytes]] = []
    arrived = asyncio.Event()

    def on_message(parts: list[bytes]) -> None:
        got.append(parts)
        arrived.set()

    channel = Channel(sender, on_message)
    try:
        for n in range(3):  # one message per pass: the third is refused by the mark
            channel.send(msgpack.packb(n))
            await asyncio.sleep(0)
        assert channel._held
        raw = _ArmedSend(transport_module._SEND, lambda: peer.send(b"ping"))
        monkeypatch.setattr(transport_module, "_SEND", raw)
        raw.armed = True
        while True:  # the peer reads what is there: the held batch may now leave
            try:
                peer.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), 1.0)
        assert not raw.armed and not channel._held  # the held batch left, the peer sent
        assert got == [[b"ping"]]
    finally:
        channel.close()
        sender.close(linger=0)
        receiver.close(linger=0)
        transport.close()
