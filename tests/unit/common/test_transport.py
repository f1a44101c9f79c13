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

from common import monitor
from common import transport as transport_module
from common.config import Security, Timing
from common.transport import Channel, Transport
from tests.harness import UNIT, eventually_async


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


async def test_a_batch_that_began_ends_when_a_handler_closes_the_channel(
    transport: Sockets,
) -> None:
    router_sock, dealer_sock = pair(transport)
    hooks: list[str] = []

    def handler(parts: list[bytes]) -> None:
        hooks.append("message")
        router.close()

    batch = (lambda: hooks.append("begin"), lambda: hooks.append("end"))
    router = Channel(router_sock, handler, on_batch=batch)
    dealer = Channel(dealer_sock, lambda parts: None)
    dealer.send(b"last")
    await eventually_async(lambda: "message" in hooks)
    # a wake-up may find nothing yet (an empty batch before it: begin, end); the batch
    # with the message ends although its handler closed the channel, and none follows
    assert hooks[-3:] == ["begin", "message", "end"], hooks
    assert hooks[:-3] == ["begin", "end"] * ((len(hooks) - 3) // 2), hooks
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
            time.sleep(0.01)  # the peer's message arrives meanwhile: the race under test
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


# -- liveness: one set of timings, libzmq's included ------------------------------------
def test_default_timing_detects_a_dead_link_within_two_heartbeats() -> None:
    timing = Timing()
    assert (timing.heartbeat, timing.timeout) == (1.0, 3.5)
    assert timing.link_timeout == 1.5 and timing.ping_interval == 0.5
    assert timing.reconnect_max == 1.0
    assert timing.quiet == 1.5 and timing.settle == 3.5


@pytest.mark.parametrize(
    ("heartbeat", "timeout", "link"),
    [
        (0.5, 1.75, 0.75),  # a dead peer noticed within 1 s
        (2.0, 7.0, 3.0),
        (1.0, 1.0, 1.0),  # --peer-timeout below 1.5 heartbeats bounds the link too
        (0.2, 0.7, 0.5),  # floor: scheduling hiccups of a busy machine are not deaths
    ],
)
def test_link_timeout_follows_heartbeat_and_peer_timeout(
    heartbeat: float, timeout: float, link: float
) -> None:
    timing = Timing(heartbeat, timeout)
    assert timing.link_timeout == pytest.approx(link)
    assert timing.ping_interval == pytest.approx(link / 3)
    # a register back from a silence waits for a link timeout, a reconnect and an announce
    assert timing.settle >= link + timing.reconnect_max + heartbeat
    assert timing.settle >= timeout
    # "cut off" is longer than a heartbeat, and short enough that nobody expired yet
    assert heartbeat <= timing.quiet <= max(heartbeat, timeout - heartbeat)


def test_transport_applies_the_timing_to_every_socket() -> None:
    timed = Transport(Security(), Timing(0.5, 1.75))
    try:
        for server in (True, False):
            sock = timed.socket(zmq.DEALER, server=server)
            assert sock.getsockopt(zmq.HEARTBEAT_IVL) == 250
            assert sock.getsockopt(zmq.HEARTBEAT_TIMEOUT) == 500
            assert sock.getsockopt(zmq.HEARTBEAT_TTL) == 700  # libzmq keeps tenths
            assert sock.getsockopt(zmq.RECONNECT_IVL_MAX) == 500
            assert sock.getsockopt(zmq.CONNECT_TIMEOUT) == 750
            sock.close(linger=0)
    finally:
        timed.close()


class _Cuttable:
    """A TCP relay on loopback that can stop relaying without closing anything: the
    peers' connection stays open and silent, as when a host's cable is pulled."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.cut = False
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if not self.cut:
                    dst.write(data)

        await asyncio.gather(
            pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True
        )

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_a_silent_peer_is_declared_dead_within_the_link_timeout() -> None:
    timing = Timing(0.5, 1.75)  # link timeout 0.75 s
    t = Transport(Security(), timing)
    router = t.socket(zmq.ROUTER, server=True)
    relay = _Cuttable(router.bind_to_random_port("tcp://127.0.0.1"))
    port = await relay.start()
    dealer = t.socket(zmq.DEALER, server=False)
    events: list[tuple[int, float]] = []
    loop = asyncio.get_running_loop()
    watcher = asyncio.create_task(
        monitor.watch(
            dealer,
            zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED,
            lambda event, endpoint: events.append((event, loop.time())),
        )
    )
    try:
        dealer.connect(f"tcp://127.0.0.1:{port}")
        await eventually_async(lambda: events)
        assert events[0][0] == zmq.EVENT_HANDSHAKE_SUCCEEDED
        await asyncio.sleep(1.0)  # pings flow: the link stays up
        assert len(events) == 1
        relay.cut, cut_at = True, loop.time()
        await eventually_async(lambda: len(events) > 1, timeout=5 * UNIT)
        event, at = events[1]
        assert event == zmq.EVENT_DISCONNECTED
        assert at - cut_at <= timing.link_timeout + 0.5 * UNIT  # plus a scheduling margin
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        t.close()
        await relay.close()


async def test_what_a_batch_makes_leaves_at_its_end_without_a_loop_callback(
    transport: Sockets, monkeypatch: pytest.MonkeyPatch
) -> None:
    router_sock, dealer_sock = pair(transport)
    at_dealer: list[list[bytes]] = []
    order: list[str] = []
    router: Channel

    def on_router(parts: list[bytes]) -> None:
        order.append("message")
        router.send(b"pong", to=parts[0])

    router = Channel(
        router_sock, on_router, None, (lambda: order.append("begin"), lambda: order.append("end"))
    )
    dealer = Channel(dealer_sock, at_dealer.append)
    scheduled: list[Any] = []
    loop = asyncio.get_running_loop()
    real = loop.call_soon

    def spy(callback: Any, *args: Any, **kwargs: Any) -> Any:
        scheduled.append(callback)
        return real(callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_soon", spy)
    for n in range(30):  # one at a time: each wake-up brings one (the moderate-rate case)
        dealer.send(b"ping")
        await eventually_async(lambda n=n: len(at_dealer) == n + 1)
    assert at_dealer == [[b"pong"]] * 30
    # each message inside a batch (a wake-up may also find nothing: an empty batch)
    batches = " ".join(order).replace("begin end", "").split()
    assert batches == ["begin", "message", "end"] * 30, order
    assert router.flush not in scheduled  # its pongs left at the batch's end
    router.close()
    dealer.close()
