"""The gateway's connection fast path, with a worker, in this process: fragments, bad
UTF-8, the keepalive sweep, paused clients, compression."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State

from gateway.stream import CLOSE_TIMEOUT
from tests.cluster.client import Probe
from tests.harness import UNIT, eventually_async

from .harness import Services

APP = "tests.cluster.apps.probe"
HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def client_frame(opcode: Opcode, data: bytes) -> bytes:
    return Frame(opcode, data).serialize(mask=True)


async def test_fragmented_messages_keep_their_order(gw: Services) -> None:
    register = await gw.register()
    gateway = await gw.gateway(register)
    await gw.worker(register, APP)
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


async def test_invalid_utf8_text_is_closed_with_1007(gw: Services) -> None:
    register = await gw.register()
    gateway = await gw.gateway(register)
    await gw.worker(register, APP)
    probe = await Probe.open(gateway)
    probe.ws.transport.write(client_frame(Opcode.TEXT, b"\xff\xfe"))
    with pytest.raises(ConnectionClosed) as closed:
        await probe.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    other = await Probe.open(gateway)  # the gateway keeps serving
    assert await other.result("get_all_client_id_count") == 1


async def test_keepalive_closes_a_peer_that_never_answers_pings(
    gw: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.keepalive")
    register = await gw.register()
    # (a timeout longer than the interval: the healthy client's pong has 1 s, not 0.2)
    gateway = await gw.gateway(register, ws_ping_interval=0.2, ws_ping_timeout=1.0)
    await gw.worker(register, APP)
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
    await eventually_async(lambda: "no pong for 1s, closing" in caplog.text)
    assert healthy.ws.state is State.OPEN
    assert await healthy.result("get_all_client_id_count") == 1


async def test_a_paused_client_that_closes_is_gone_promptly(gw: Services) -> None:
    register = await gw.register()
    gateway = await gw.gateway(register)
    await gw.worker(register, APP)
    observer = await Probe.open(gateway, "/?uid=observer")
    host, port = gateway.info["websocket"].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(HANDSHAKE)
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10 * UNIT)
        # 100 messages (more than CLIENT_BACKLOG: reading is paused) and a close, in
        # one write
        burst = b"".join(client_frame(Opcode.TEXT, b'{"pid": true}') for _ in range(100))
        burst += client_frame(Opcode.CLOSE, Close(1000, "bye").serialize())
        start = time.monotonic()
        writer.write(burst)
        while await asyncio.wait_for(reader.read(65536), 10 * UNIT):
            pass  # the replies (if any), the close frame, then the gateway's EOF
    finally:
        writer.close()  # the closing handshake is over: the client leaves
    while True:
        event = await observer.json(timeout=20 * UNIT)
        if event.get("event") == "close":
            break
    # the 100 messages take well under a second; a close left unread would only end
    # at CLOSE_TIMEOUT, when the gateway aborts the connection
    assert time.monotonic() - start < CLOSE_TIMEOUT / 2
    (status,) = (await observer.result("get_status")).values()
    assert status["paused_clients"] >= 1  # it was paused indeed


async def test_a_paused_client_is_not_taken_for_dead_by_the_keepalive(gw: Services) -> None:
    # The gateway stops reading a client whose backlog is long: its pongs wait unread
    # in the socket. That is our backpressure, not a dead peer.
    register = await gw.register()
    # a sweep every 0.1 s while it is paused (~1.3 s); a pong, when read, has 0.5 s
    gateway = await gw.gateway(register, ws_ping_interval=0.1, ws_ping_timeout=0.5)
    await gw.worker(register, APP)
    probe = await Probe.open(gateway)
    for _ in range(150):
        await probe.send({"count": True, "delay": 0.015})
    counts = [(await probe.json(timeout=30 * UNIT))["count"] for _ in range(150)]
    assert counts == list(range(1, 151))
    status = await probe.result("get_status")
    (gateway_status,) = status.values()
    assert gateway_status["paused_clients"] >= 1  # it was paused, and it is still here


async def test_compressed_and_plain_clients_get_the_same_messages(gw: Services) -> None:
    # --compression: a client that offers permessage-deflate gets it, and the
    # protocol frames each message for it; a client without it gets the shared frame
    register = await gw.register()
    gateway = await gw.gateway(register, compression=True)
    await gw.worker(register, APP)
    deflated = await Probe.open(gateway)  # websockets' client offers deflate
    plain = await Probe.open(gateway, compression=None)
    assert deflated.ws.protocol.extensions and not plain.ws.protocol.extensions
    for probe in (deflated, plain):
        assert (await probe.call("join_group", probe.client_id, "mixed"))["result"] is None
    text = "é, compressible " * 40
    await deflated.call("send_to_group", "mixed", text)
    assert await plain.recv() == text
    assert await deflated.recv() == text
    await deflated.ws.send(b"\x00\x01" * 300)  # the app echoes bytes as bytes
    assert await deflated.recv() == b"\x00\x01" * 300
