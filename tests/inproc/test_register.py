"""register.server in this process, spoken to by raw ZeroMQ peers: subscribers get the
list and every change, gateways join by announcing and leave by saying goodbye, and a
peer's bad frames cost the register nothing but a (rate-limited) log line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import msgpack
import pytest
import zmq
import zmq.asyncio

from common import protocol
from common.config import RegisterConfig
from common.frames import Announce, Frame, GatewayList, Goodbye, Kind, Subscribe
from common.logs import MEMBERS_BURST
from register.server import RegisterServer
from tests.harness import UNIT

from .harness import TIMING

pytestmark = pytest.mark.timeout(30 * UNIT)
A, B = "tcp://127.0.0.1:2901", "tcp://127.0.0.1:2902"


class Peer:
    """A DEALER to the register: what it sends, and each frame it gets, in order."""

    def __init__(self, context: zmq.asyncio.Context, address: str) -> None:
        self.sock = context.socket(zmq.DEALER)
        self.sock.connect(f"tcp://{address}")
        self.received: list[Frame] = []

    async def send(self, *frames: Frame | bytes) -> None:
        await self.sock.send(
            b"".join(f if isinstance(f, bytes) else protocol.encode(f) for f in frames)
        )

    async def next(self) -> Frame:
        while not self.received:  # several frames may come in one part
            [part] = await asyncio.wait_for(self.sock.recv_multipart(), 10 * UNIT)
            for frame in protocol.decode_many(part):
                assert isinstance(frame, Frame), frame
                self.received.append(frame)
        return self.received.pop(0)

    async def next_list(self) -> GatewayList:
        frame = await self.next()
        assert isinstance(frame, GatewayList)
        return frame


@pytest.fixture
async def register() -> AsyncIterator[RegisterServer]:
    server = RegisterServer(RegisterConfig("127.0.0.1:0", TIMING))
    async with server:
        yield server


@pytest.fixture
async def peer(register: RegisterServer) -> AsyncIterator[Callable[[], Peer]]:
    """Make peers of the register; all closed after the test."""
    context = zmq.asyncio.Context()
    made: list[Peer] = []

    def make() -> Peer:
        made.append(Peer(context, register.address))
        return made[-1]

    yield make
    for one in made:
        one.sock.close(linger=0)
    context.term()


async def test_a_subscriber_gets_the_list_then_every_change(
    register: RegisterServer, peer: Callable[[], Peer]
) -> None:
    worker, gateway = peer(), peer()
    await worker.send(Subscribe("worker-1"))
    assert (await worker.next_list()).gateways == {}
    await gateway.send(Announce(A, "127.0.0.1:8001", 7))
    assert (await worker.next_list()).gateways == {A: 7}
    await gateway.send(Announce(B, "127.0.0.1:8002", 8), Goodbye(A))  # one batch: one list
    assert (await worker.next_list()).gateways == {B: 8}
    assert register.membership.public_addresses() == {B: "127.0.0.1:8002"}


async def test_bad_frames_are_dropped_and_the_register_serves_on(
    register: RegisterServer, peer: Callable[[], Peer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="register.server")
    rogue, worker = peer(), peer()
    await rogue.send(
        msgpack.packb([protocol.VERSION, Kind.ANNOUNCE, ["x"], "ws", 1]),
        msgpack.packb([protocol.VERSION, Kind.SUBSCRIBE, {"a": 1}]),
        b"\xc1 not msgpack",
    )
    for address in ("tcp://0.0.0.0:2900", "tcp://127.0.0.1:0", "no address"):
        await rogue.send(Announce(address, "x:1", 7))  # no worker could reach these
    await worker.send(Subscribe("worker-1"), Announce(A, "127.0.0.1:8001", 1))
    lists = [await worker.next_list(), await worker.next_list()]
    assert lists[-1].gateways == {A: 1}  # the good frames after the bad ones counted
    assert "dropped a frame from 127.0.0.1" in caplog.text
    assert "refused an announce from 127.0.0.1" in caplog.text and "0.0.0.0" in caplog.text
    assert caplog.text.count("refused an announce") == 1  # the others: counted, not said
    assert "tcp://0.0.0.0:2900" not in register.membership.gateways()


async def test_a_flood_of_announces_is_a_few_lists_and_a_few_lines(
    register: RegisterServer, peer: Callable[[], Peer], caplog: pytest.LogCaptureFixture
) -> None:
    """2,000 announces (a new epoch each) as fast as a peer can send them: what came at
    once is one list, not one each (each list is sent to every subscriber), and the log
    says "joined" a line a second, not 2,000 times."""
    caplog.set_level(logging.INFO, logger="register.server")
    worker, rogue = peer(), peer()
    await worker.send(Subscribe("worker-1"))
    assert (await worker.next_list()).gateways == {}
    for epoch in range(1, 2001):
        await rogue.send(Announce(A, "127.0.0.1:8001", epoch))
    await rogue.send(Announce(B, "127.0.0.1:8002", 1))  # the last: the lists end with it
    lists = 0
    while B not in (await worker.next_list()).gateways:
        lists += 1
    assert lists < 1000, lists  # one a message was 2,000
    joined = caplog.text.count(" joined (epoch ")
    assert 1 <= joined <= 2 * MEMBERS_BURST, joined  # a burst a second at most
