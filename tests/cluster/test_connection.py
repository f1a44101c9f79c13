"""The gateway's connection fast path: fragments, bad UTF-8, keepalive sweep."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from tests.cluster.client import Probe
from tests.harness import UNIT, Cluster

APP = "tests.cluster.apps.probe"
HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def test_fragmented_messages_keep_their_order(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    gw.worker(register, APP)
    probe = await Probe.open(gateway)
    await probe.send({"session": {"n": 0}})
    assert await probe.json() == {"ok": True}
    await probe.ws.send(['{"session": ', '{"n": 1}}'])  # two frames, one message
    await probe.send({"session": {"n": 2}})  # one frame, sent right after
    assert await probe.json() == {"ok": True}
    assert await probe.json() == {"ok": True}
    await probe.send({"get_session": True})
    assert (await probe.json())["session"]["n"] == 2
    await probe.ws.send([b"bin", b"ary"])
    assert await probe.recv() == b"binary"


async def test_invalid_utf8_text_is_closed_with_1007(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    gw.worker(register, APP)
    probe = await Probe.open(gateway)
    probe.ws.transport.write(Frame(Opcode.TEXT, b"\xff\xfe").serialize(mask=True))
    with pytest.raises(ConnectionClosed) as closed:
        await probe.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    other = await Probe.open(gateway)  # the gateway keeps serving
    assert await other.result("get_all_client_id_count") == 1


async def test_keepalive_closes_a_peer_that_never_answers_pings(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--ws-ping-interval", "0.2")
    gw.worker(register, APP)
    healthy = await Probe.open(gateway)  # websockets answers pings by itself
    host, port = gateway.info["websocket"].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(HANDSHAKE)  # a WebSocket peer that then goes silent
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    received = b""
    while chunk := await asyncio.wait_for(reader.read(1024), 10 * UNIT):
        received += chunk  # pings (and the greeting) arrive; we never pong
    assert b"\x89" in received  # a ping frame was sent before giving up
    writer.close()
    gateway.wait_log("no pong for 0.2s, closing")
    assert healthy.ws.state is State.OPEN
    assert await healthy.result("get_all_client_id_count") == 1
