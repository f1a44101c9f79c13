"""A client's session across its events, with workers in this process: each event sees
every write of the ones before it, however fast they come; a value msgpack cannot carry
costs its write only."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from websockets.asyncio.client import connect

from tests.cluster.client import Probe
from tests.harness import UNIT, eventually_async, ws_url

from .harness import Services

PROBE = "tests.cluster.apps.probe"
COUNTER = "tests.cluster.apps.counter"
pytestmark = pytest.mark.timeout(30 * UNIT)


async def test_pipelined_messages_see_every_previous_session_write_sync(gw: Services) -> None:
    register = await gw.register()
    gateway = await gw.gateway(register)
    await gw.worker(register, COUNTER, count=2)
    for _ in range(5):  # the README pattern: write in on_websocket_connect, read next
        async with connect(ws_url(gateway, "/?name=ann")) as ws:
            for _ in range(50):  # sent without waiting for any reply
                await ws.send("{}")
            replies = [json.loads(await asyncio.wait_for(ws.recv(), 10 * UNIT)) for _ in range(50)]
            assert [r["count"] for r in replies] == list(range(1, 51))
            assert {r["name"] for r in replies} == {"ann"}


async def test_pipelined_messages_see_every_previous_session_write_async(gw: Services) -> None:
    register = await gw.register()
    gateway = await gw.gateway(register)
    await gw.worker(register, PROBE, count=2)
    probe = await Probe.open(gateway)
    for i in range(60):
        await probe.send({"count": True, "delay": 0.001 * (i % 3)})
    assert [(await probe.json())["count"] for _ in range(60)] == list(range(1, 61))


async def test_a_session_value_msgpack_cannot_carry_is_dropped_not_fatal(
    gw: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="business.worker")
    register = await gw.register()
    gateway = await gw.gateway(register)
    await gw.worker(register, PROBE)
    a = await Probe.open(gateway)
    b = await Probe.open(gateway)
    await a.send({"bad_session": True})
    assert await a.json() == {"ok": True}
    await eventually_async(lambda: "session not saved, a value cannot be encoded" in caplog.text)
    await a.send({"get_session": True})  # the worker still serves a, b and newcomers
    assert "when" not in (await a.json())["session"]
    assert await b.result("get_all_client_id_count") == 2
    c = await Probe.open(gateway)
    assert await c.result("get_all_client_id_count") == 3
