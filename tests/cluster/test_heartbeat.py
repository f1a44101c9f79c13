"""GatewayWorker's application heartbeat: ping_interval, ping_not_response_limit, ping_data."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from tests.cluster.client import Probe
from tests.harness import Cluster

APP = "tests.cluster.apps.probe"


async def test_idle_clients_get_ping_data_and_silent_ones_are_closed(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(
        register, "--ping-interval", "0.1", "--ping-not-response-limit", "5", "--ping-data", "ping"
    )
    gw.worker(register, APP)
    talker = await Probe.open(gateway)  # answering before the silent one's ticks start
    pings = 0

    async def answer_pings() -> None:
        nonlocal pings
        async for message in talker.ws:
            if message == "ping":
                pings += 1
                await talker.ws.send(b"pong")  # any data resets the silence count

    answering = asyncio.create_task(answer_pings())
    silent = await Probe.open(gateway)
    with pytest.raises(ConnectionClosed):
        while True:
            assert await silent.recv() == "ping"
    gateway.wait_log(f"client {silent.client_id} silent for 5 ticks")
    assert talker.ws.state is State.OPEN
    assert pings >= 1
    answering.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await answering
    await talker.close()
