"""common.transport.Channel: callback-driven ZeroMQ links (real sockets, in-process).

The sockets are real (inproc and tcp on loopback, in this process); what is checked
is what arrives where, in which order, and that nothing stalls: ZeroMQ's descriptor
is edge-triggered, so a send that consumes the edge must not leave messages unread.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import pytest
import zmq
import zmq.asyncio

from common import transport as transport_module
from common.config import Security
from common.transport import Channel, Transport
from tests.harness import eventually_async


def pack(n: int) -> bytes:
    """A frame for these tests: one msgpack int (frames of a batch are joined)."""
    return msgpack.packb(n)


def unpack(part: bytes) -> list[int]:
    return list(msgpack.Unpacker(io.BytesIO(part)))


class Sockets(Transport):
    """A transport that keeps its sockets to close them after the test."""

    def __init__(self) -> None:
        super().__init__(Security())
        self.made: list[zmq.asyncio.Socket] = []

    def socket(self, kind: int, *, server: bool) -> zmq.asyncio.Socket:
        sock = super().socket(kind, server=server)
        self.made.append(sock)
        return sock


@pytest.fixture
async def transport() -> AsyncIterator[Sockets]:
    t = Sockets()
    yield t
    for sock in t.made:
        sock.close(linger=0)
    t.close()


def pair(transport: Sockets) -> tuple[zmq.asyncio.Socket, zmq.asyncio.Socket]:
    """A ROUTER (bound on a free loopback port) and a DEALER connected to it."""
    router = transport.socket(zmq.ROUTER, server=True)
    router.setsockopt(zmq.ROUTER_MANDATORY, 1)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    dealer = transport.socket(zmq.DEALER, server=False)
    dealer.setsockopt(zmq.ROUTING_ID, b"dealer-1")
    dealer.connect(f"tcp://127.0.0.1:{port}")
    return router, dealer


async def test_messages_arrive_in_order_through_the_callback(transport: Sockets) -> None:
    router_sock, dealer_sock = pair(transport)
    at_router: list[list[bytes]] = []
    at_dealer: list[list[bytes]] = []
    router = Channel(router_sock, at_router.append)
    dealer = Channel(dealer_sock, at_dealer.append)
    for n in range(1000):
        dealer.send(pack(n))
        if n % 100 == 99:
            await asyncio.sleep(0)  # several loop passes: several batches
    await eventually_async(lambda: sum(len(unpack(m[1])) for m in at_router) == 1000)
    assert all(len(m) == 2 for m in at_router)  # identity, then every frame in one part
    frames = [n for message in at_router for n in unpack(message[1])]
    assert frames == list(range(1000))
    assert all(message[0] == b"dealer-1" for message in at_router)
    assert dealer.sent_messages < 1000  # batched: one multipart message per loop pass
    router.send(b"back", to=b"dealer-1")
    await eventually_async(lambda: at_dealer == [[b"back"]])
    router.close()
    dealer.close()


async def test_echo_both_ways_does_not_stall(transport: Sockets) -> None:
    # Each side answers from its callback: its send runs between receives, the case
    # where a consumed edge would leave the next message unread.
    router_sock, dealer_sock = pair(transport)
    router: Channel
    dealer: Channel
    got: list[int] = []

    def on_router(parts: list[bytes]) -> None:
        for n in unpack(parts[1]):
            router.send(pack(n), to=parts[0])

    def on_dealer(parts: list[bytes]) -> None:
        for part in parts:
            for n in unpack(part):
                got.append(n)
                if n < 20000:
                    dealer.send(pack(n + 100))

    router = Channel(router_sock, on_router)
    dealer = Channel(dealer_sock, on_dealer)
    for n in range(100):
        dealer.send(pack(n))
    await eventually_async(lambda: len(got) >= 20100)
    assert sorted(got) == list(range(20100))  # every one, nothing twice
    router.close()
    dealer.close()


async def test_a_failing_handler_costs_only_its_message(
    transport: Sockets, caplog: pytest.LogCaptureFixture
) -> None:
    router_sock, dealer_sock = pair(transport)
    seen: list[bytes] = []

    def handler(parts: list[bytes]) -> None:
        if parts[1] == b"boom":
            raise ValueError("bad")
        seen.append(parts[1])

    router = Channel(router_sock, handler)
    dealer = Channel(dealer_sock, lambda parts: None)
    dealer.send(b"boom")
    await asyncio.sleep(0)
    dealer.send(b"fine")
    await eventually_async(lambda: seen == [b"fine"])
    assert "failed to handle a message" in caplog.text
    router.close()
    dealer.close()


async def test_unreachable_peer_is_reported(transport: Sockets) -> None:
    router_sock, _ = pair(transport)
    gone: list[bytes] = []
    router = Channel(router_sock, lambda parts: None, on_unreachable=gone.append)
    router.send(b"hello?", to=b"nobody")
    await eventually_async(lambda: gone == [b"nobody"])
    assert router.sent_messages == 0
    router.close()


async def test_high_water_mark_holds_sends_in_order(transport: Sockets) -> None:
    # inproc with tiny high-water marks: sends are refused until the reader catches up
    sender_sock = transport.socket(zmq.PAIR, server=True)
    receiver_sock = transport.socket(zmq.PAIR, server=False)
    for sock in (sender_sock, receiver_sock):
        sock.setsockopt(zmq.SNDHWM, 2)
        sock.setsockopt(zmq.RCVHWM, 2)
        sock.setsockopt(zmq.LINGER, 0)
    sender_sock.bind("inproc://hwm")
    receiver_sock.connect("inproc://hwm")
    got: list[int] = []
    sender = Channel(sender_sock, lambda parts: None)
    for n in range(200):
        sender.send(pack(n))
        await asyncio.sleep(0)  # one multipart message per pass: many messages
    assert sender._held  # the mark was hit: some sends are waiting
    receiver = Channel(receiver_sock, lambda parts: got.extend(unpack(parts[0])))
    await eventually_async(lambda: len(got) == 200)
    assert got == list(range(200))
    assert not sender._held
    sender.close()
    receiver.close()


async def test_a_peer_at_its_high_water_mark_does_not_hold_up_the_others(
    transport: Sockets,
) -> None:
    router_sock = transport.socket(zmq.ROUTER, server=True)
    router_sock.setsockopt(zmq.SNDHWM, 2)
    router_sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    router_sock.bind("inproc://peers")
    peers = {}
    for name in (b"slow", b"fast"):
        sock = transport.socket(zmq.DEALER, server=False)
        sock.setsockopt(zmq.RCVHWM, 2)
        sock.setsockopt(zmq.ROUTING_ID, name)
        sock.connect("inproc://peers")
        peers[name] = sock
    router = Channel(router_sock, lambda parts: None)
    for n in range(50):
        router.send(pack(n), to=b"slow")
        await asyncio.sleep(0)  # one message per pass: the slow peer's pipe fills
    assert b"slow" in router._held
    fast_got: list[int] = []
    fast = Channel(peers[b"fast"], lambda parts: fast_got.extend(unpack(parts[0])))
    router.send(pack(1000), to=b"fast")
    await eventually_async(lambda: fast_got == [1000])
    slow_got: list[int] = []
    slow = Channel(peers[b"slow"], lambda parts: slow_got.extend(unpack(parts[0])))
    await eventually_async(lambda: len(slow_got) == 50)
    assert slow_got == list(range(50))
    assert not router._held
    for channel in (router, fast, slow):
        channel.close()


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
    transport: Sockets, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = transport.socket(zmq.PAIR, server=True)
    receiver = transport.socket(zmq.PAIR, server=False)
    for sock in (sender, receiver):
        sock.setsockopt(zmq.SNDHWM, 1)
        sock.setsockopt(zmq.RCVHWM, 1)
    sender.bind("inproc://held-release")
    receiver.connect("inproc://held-release")
    peer: zmq.Socket[bytes] = zmq.Socket.shadow(receiver.underlying)
    got: list[list[bytes]] = []
    channel = Channel(sender, got.append)
    try:
        for n in range(3):  # one message per pass: the third is refused by the mark
            channel.send(pack(n))
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
        await eventually_async(lambda: got)
        assert not raw.armed and not channel._held  # the held batch left, the peer sent
        assert got == [[b"ping"]]
    finally:
        channel.close()
