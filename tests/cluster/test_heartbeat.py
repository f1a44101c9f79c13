"""GatewayWorker's application heartbeat: ping_interval, ping_not_response_limit, ping_data."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from tests.cluster.client import Probe
from tests.harness import UNIT, Cluster

APP = "tests.cluster.apps.probe"


async def test_idle_clients_get_ping_data_and_silent_ones_are_closed(gw: Cluster) -> None:
    register = gw.register()
    # ticks of 0.4 s: the chatty client below, speaking every 20 ms, stays heard even on
    # a loaded machine (a stall of most of a tick would make it idle)
    gateway = gw.gateway(
        register, "--ping-interval", "0.4", "--ping-not-response-limit", "5", "--ping-data", "ping"
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
    chatty = await Probe.open(gateway)  # speaks more often than a tick: never idle
    heard_by_chatty: list[str | bytes] = []
    chatting = True

    async def chatter() -> None:
        # stops on the flag, not on cancel: Python 3.11's wait_for can swallow a cancel
        # that meets a frame just received (a hang in CI); asyncio.timeout does not
        while chatting:
            await chatty.ws.send(b"still here")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.02):
                    heard_by_chatty.append(await chatty.ws.recv())

    chattering = asyncio.create_task(chatter())
    silent = await Probe.open(gateway)
    with pytest.raises(ConnectionClosed):
        while True:
            assert await silent.recv() == "ping"
    gateway.wait_log(f"client {silent.client_id} silent for 5 ticks")
    assert talker.ws.state is State.OPEN and chatty.ws.state is State.OPEN
    assert pings >= 1
    assert "ping" not in heard_by_chatty  # ping data goes to idle clients only
    chatting = False
    await asyncio.wait_for(chattering, 10 * UNIT)  # a failed send would raise here
    answering.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await answering
    await talker.close()
    await chatty.close()
