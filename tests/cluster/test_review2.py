"""Review of the gateway's own WebSocket shell: a paused client that closes."""

from __future__ import annotations

import asyncio
import time

from websockets.frames import Close, Frame, Opcode

from tests.cluster.client import Probe
from tests.harness import UNIT, Cluster

PROBE = "tests.cluster.apps.probe"
UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def client_frame(opcode: Opcode, data: bytes) -> bytes:
    return Frame(opcode, data).serialize(mask=True)


async def test_a_paused_client_that_closes_is_gone_promptly(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    gw.worker(register, PROBE)
    observer = await Probe.open(gateway, "/?uid=observer")
    host, port = gateway.info["websocket"].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(UPGRADE)
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10 * UNIT)
    # 100 messages (more than CLIENT_BACKLOG: reading is paused) and a close, in one write
    burst = b"".join(client_frame(Opcode.TEXT, b'{"pid": true}') for _ in range(100))
    burst += client_frame(Opcode.CLOSE, Close(1000, "bye").serialize())
    start = time.monotonic()
    writer.write(burst)
    while await asyncio.wait_for(reader.read(65536), 10 * UNIT):
        pass  # the replies (if any), the close frame, then the gateway's EOF
    writer.close()  # the closing handshake is over: the client leaves
    while True:
        event = await observer.json(timeout=20 * UNIT)
        if event.get("event") == "close":
            break
    # the 100 messages take well under a second; CLOSE_TIMEOUT is 10 s
    assert time.monotonic() - start < 5 * UNIT


async def test_a_paused_client_is_not_taken_for_dead_by_the_keepalive(gw: Cluster) -> None:
    # The gateway stops reading a client whose backlog is long: its pongs wait unread
    # in the socket. That is our backpressure, not a dead peer.
    register = gw.register()
    gateway = gw.gateway(register, "--ws-ping-interval", "0.1")
    gw.worker(register, PROBE)
    probe = await Probe.open(gateway)
    for _ in range(150):
        await probe.send({"count": True, "delay": 0.01})
    counts = [(await probe.json(timeout=30 * UNIT))["count"] for _ in range(150)]
    assert counts == list(range(1, 151))
    status = await probe.result("get_status")
    (gateway_status,) = status.values()
    assert gateway_status["paused_clients"] >= 1  # it was paused, and it is still here
