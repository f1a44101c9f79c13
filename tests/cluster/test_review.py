"""Regressions found by review: pipelined sessions, bad session values, slow sync
handlers, malformed internal frames, floods."""

from __future__ import annotations

import asyncio
import json

import msgpack
import zmq
import zmq.asyncio
from websockets.asyncio.client import connect

from common import frames, protocol
from tests.cluster.client import Probe
from tests.harness import UNIT, Cluster, ws_url

PROBE = "tests.cluster.apps.probe"
COUNTER = "tests.cluster.apps.counter"


async def test_pipelined_messages_see_every_previous_session_write_sync(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    gw.worker(register, COUNTER, count=2)
    for _ in range(5):  # the README pattern: write in on_websocket_connect, read next
        async with connect(ws_url(gateway, "/?name=ann")) as ws:
            for _ in range(50):  # sent without waiting for any reply
                await ws.send("{}")
            replies = [json.loads(await asyncio.wait_for(ws.recv(), 10 * UNIT)) for _ in range(50)]
            assert [r["count"] for r in replies] == list(range(1, 51))
            assert {r["name"] for r in replies} == {"ann"}


async def test_pipelined_messages_see_every_previous_session_write_async(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    gw.worker(register, PROBE, count=2)
    probe = await Probe.open(gateway)
    for i in range(60):
        await probe.send({"count": True, "delay": 0.001 * (i % 3)})
    assert [(await probe.json())["count"] for _ in range(60)] == list(range(1, 61))


async def test_a_session_value_msgpack_cannot_carry_is_dropped_not_fatal(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    worker = gw.worker(register, PROBE)
    a = await Probe.open(gateway)
    b = await Probe.open(gateway)
    await a.send({"bad_session": True})
    assert await a.json() == {"ok": True}
    worker.wait_log("session not saved, a value cannot be encoded")
    await a.send({"get_session": True})  # the worker still serves a, b and newcomers
    assert "when" not in (await a.json())["session"]
    assert await b.result("get_all_client_id_count") == 2
    c = await Probe.open(gateway)
    assert await c.result("get_all_client_id_count") == 3


async def test_a_sync_handler_slower_than_the_peer_timeout_is_not_a_dead_worker(
    gw: Cluster,
) -> None:
    register = gw.register()  # FAST timings: peers time out after 0.7 s
    gateway = gw.gateway(register)
    gw.worker(register, COUNTER, count=2)
    async with connect(ws_url(gateway, "/?name=slow")) as ws:
        await ws.send(json.dumps({"sleep": 1.5}))
        await ws.send("{}")
        first = json.loads(await asyncio.wait_for(ws.recv(), 10 * UNIT))
        second = json.loads(await asyncio.wait_for(ws.recv(), 10 * UNIT))
        assert (first["count"], second["count"]) == (1, 2)  # each handled once, in order
        assert first["pid"] == second["pid"]
    assert "left:" not in gateway.logs()
    assert "redelivered" not in gateway.logs()


async def test_malformed_internal_frames_do_not_kill_the_register(gw: Cluster) -> None:
    register = gw.register()
    context = zmq.asyncio.Context()
    sock = context.socket(zmq.DEALER)
    sock.connect(f"tcp://{register.info['listen']}")
    bad_frames = [
        msgpack.packb([protocol.VERSION, frames.Kind.ANNOUNCE, ["x"], "ws", 1]),
        msgpack.packb([protocol.VERSION, frames.Kind.ANNOUNCE, 5, "ws", 1]),
        msgpack.packb([protocol.VERSION, frames.Kind.SUBSCRIBE, {"a": 1}]),
        b"\xc1 not msgpack",
    ]
    await sock.send_multipart(bad_frames)
    register.wait_log("dropped a frame")
    sock.close(linger=0)
    context.term()
    assert register.proc.poll() is None
    gateway = gw.gateway(register)  # and it still serves the cluster
    gw.worker(register, PROBE)
    probe = await Probe.open(gateway)
    assert await probe.result("get_all_client_id_count") == 1


async def test_a_flooding_client_is_paused_and_loses_nothing(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    gw.worker(register, PROBE)
    probe = await Probe.open(gateway)

    async def flood() -> None:
        for i in range(400):
            await probe.send({"count": True, "delay": 0.002 if i % 50 == 0 else 0})

    sending = asyncio.create_task(flood())
    counts = [(await probe.json(timeout=30 * UNIT))["count"] for _ in range(400)]
    await sending
    assert counts == list(range(1, 401))
    status = await probe.result("get_status")
    (gateway_status,) = status.values()
    assert gateway_status["paused_clients"] >= 1  # the gateway stopped reading it a while
