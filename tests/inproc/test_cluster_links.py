"""business.cluster: a push client's links against a fake register and fake gateways.

Real ZeroMQ sockets on loopback; the register and gateways are plain ROUTER sockets
driven by the test, so that it can send what a real register never would (a
malformed address, a complete list that omits a live gateway) and see what the
client does: which gateways it says Hello to, which it keeps for "all" calls.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator

import pytest
import zmq

from business.cluster import MAX_UNLISTED_LINKS, Cluster
from common import frames, protocol
from common.config import Security, Timing
from common.exceptions import ConfigError, InvalidArgument
from common.frames import Role
from common.transport import Transport
from tests.harness import UNIT, eventually_async

TIMING = Timing(heartbeat=0.2, timeout=0.7)


class Peer:
    """A bound ROUTER playing a register or a gateway: records who said what."""

    def __init__(self, transport: Transport) -> None:
        self.sock = transport.socket(zmq.ROUTER, server=True)
        self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.frames: list[tuple[bytes, frames.Frame]] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            identity, *parts = await self.sock.recv_multipart()
            for frame in protocol.decode_parts(parts):
                assert isinstance(frame, frames.Frame), frame
                self.frames.append((identity, frame))

    def said(self, kind: type[frames.Frame]) -> list[bytes]:
        return [identity for identity, frame in self.frames if isinstance(frame, kind)]

    async def send(self, identity: bytes, frame: frames.Frame) -> None:
        await self.sock.send_multipart([identity, protocol.encode(frame)])

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        self.sock.close(linger=0)


@pytest.fixture
async def fakes() -> AsyncIterator[Transport]:
    transport = Transport(Security(), TIMING)
    yield transport
    transport.close()


async def subscribed(register: Peer) -> bytes:
    """The identity of the client's subscription, once it arrived."""
    await eventually_async(lambda: register.said(frames.Subscribe))
    return register.said(frames.Subscribe)[0]


async def test_a_malformed_address_is_skipped_and_blocks_no_gateway(
    fakes: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    register, first, later = Peer(fakes), Peer(fakes), Peer(fakes)
    client = Cluster([register.address], role=Role.CLIENT, name="t", timing=TIMING)
    try:
        await client.start()
        me = await subscribed(register)
        bad = {"tcp://0.0.0.0:2900": 1, "tcp://10.0.0.1:0": 2, "not an address": 3}
        await register.send(me, frames.GatewayList({**bad, first.address: 4}, True))
        await eventually_async(lambda: first.said(frames.Hello))
        # a gateway that joins later is linked too (the list's bad entries stay in it)
        listing = {**bad, first.address: 4, later.address: 5}
        await register.send(me, frames.GatewayList(listing, True))
        await eventually_async(lambda: later.said(frames.Hello))
        assert sorted(link.address for link in client.listed_links()) == sorted(
            [first.address, later.address]
        )
        skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
        assert skipped and "0.0.0.0" in skipped[0]  # the first at once, the rest counted
        assert len(skipped) == 1
    finally:
        await client.close()
        for peer in (register, first, later):
            await peer.close()


async def test_a_list_that_omits_a_live_gateway_does_not_stop_sends_to_it(
    fakes: Transport,
) -> None:
    register, gateway = Peer(fakes), Peer(fakes)
    client = Cluster([register.address], role=Role.CLIENT, name="t", timing=TIMING)
    try:
        await client.start()
        me = await subscribed(register)
        await register.send(me, frames.GatewayList({gateway.address: 4}, True))
        await eventually_async(
            lambda: (
                client.view.links.get(gateway.address, None)
                and client.view.links[gateway.address].up
            )
        )
        # a register back from a network loss, before the gateway re-announced
        await register.send(me, frames.GatewayList({}, True))
        await eventually_async(lambda: client.listed == {})
        # nothing must happen: heartbeats pass (the time is the thing tested), the link stays
        await asyncio.sleep(5 * TIMING.heartbeat)
        assert [link.address for link in client.listed_links()] == [gateway.address]
        client.listed_links()[0].send(frames.Command(frames.Op.UNGROUP, ["g"]))
        await eventually_async(lambda: gateway.said(frames.Command))
        # the gateway goes: its link and the register agree, it leaves
        await gateway.close()
        await eventually_async(lambda: not client.listed_links(), timeout=5 * UNIT)
        assert gateway.address not in client.links
    finally:
        await client.close()
        await register.close()


async def test_an_address_no_gateway_can_have_is_refused_by_link() -> None:
    client = Cluster([], role=Role.CLIENT, name="t", timing=TIMING)
    try:
        for address in ("tcp://0.0.0.0:1", "tcp://127.0.0.1:0", "tcp://239.1.1.1:5"):
            with pytest.raises(InvalidArgument, match="cannot link"):
                client.link(address)
        assert client.links == {}
    finally:
        await client.close()


async def test_links_to_gateways_no_register_lists_are_bounded() -> None:
    # forged client_ids, each naming another ip:port: a link each, up to a bound
    client = Cluster([], role=Role.CLIENT, name="t", timing=TIMING)
    try:
        for port in range(20000, 20000 + MAX_UNLISTED_LINKS):
            client.link(f"tcp://127.0.0.1:{port}")  # nothing listens: never connected
        with pytest.raises(InvalidArgument, match=f"{MAX_UNLISTED_LINKS} links to gateways"):
            client.link("tcp://127.0.0.1:30000")
        assert len(client.links) == MAX_UNLISTED_LINKS
        assert client.link("tcp://127.0.0.1:20000") is client.links["tcp://127.0.0.1:20000"]
    finally:
        await client.close()


async def test_a_client_every_register_refuses_fails_to_start() -> None:
    secure = Transport(Security("right"), TIMING)
    register = Peer(secure)
    client = Cluster(
        [register.address], role=Role.CLIENT, name="t", timing=TIMING, security=Security("wrong")
    )
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(ConfigError, match="same --secret") as failed:
            await client.start(wait=0.8, start_timeout=1.0)
        assert asyncio.get_running_loop().time() - started >= 1.0
        assert register.address.removeprefix("tcp://") in str(failed.value)
        assert "refused us" in str(failed.value)
        assert register.frames == []  # nothing got through
    finally:
        await register.close()
        secure.close()


async def test_an_unreachable_register_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with socket.socket() as held:  # bound, never listening: connections are refused,
        held.bind(("127.0.0.1", 0))  # and no other process can take the port meanwhile
        address = f"127.0.0.1:{held.getsockname()[1]}"
        client = Cluster([address], role=Role.CLIENT, name="t", timing=TIMING)
        try:
            await client.start(wait=0.3, start_timeout=0.6)
            assert client.listed is None
            assert any("still trying" in r.getMessage() for r in caplog.records)
        finally:
            await client.close()
