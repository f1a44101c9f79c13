"""The external push client (GatewayWorker's GatewayClient): a gateway that stops
answering (SIGSTOP), and the sync client from plain code (its own loop thread)."""

from __future__ import annotations

import asyncio
import time

import pytest

from business import AsyncGatewayClient, GatewayClient
from common.exceptions import InvalidArgument, QueryTimeout
from tests.cluster.client import Probe
from tests.harness import UNIT, Cluster

APP = "tests.cluster.apps.probe"


async def test_single_gateway_query_times_out_clearly(gw: Cluster) -> None:
    # The register must still list the stopped gateway when the client asks: the
    # harness's 0.7 s peer timeout leaves too short a window on a slow machine (the
    # gateway is expired first, and the count is a complete 0: right, but not this test).
    register = gw.register("--peer-timeout", "3")
    gateway = gw.gateway(register)
    gw.worker(register, APP)
    probe = await Probe.open(gateway)
    async with AsyncGatewayClient(register.info["listen"], timeout=0.3) as client:
        deadline = time.monotonic() + 10 * UNIT
        while not (await client.get_all_client_id_count()).complete:  # register settles
            assert time.monotonic() < deadline, "the register's list never became complete"
            await asyncio.sleep(0.05)
        gateway.signal(19)  # SIGSTOP: the gateway stops answering
        try:
            with pytest.raises(QueryTimeout, match="did not answer"):
                await client.is_online(probe.client_id)
            count = await client.get_all_client_id_count()
            assert count == 0 and count.missing == (gateway.info["internal"],)
        finally:
            gateway.signal(18)  # SIGCONT
    assert await probe.result("get_all_client_id_count") == 1
    await probe.close()


def test_sync_client_from_plain_code(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    gw.worker(register, APP)

    async def connect_probe() -> Probe:
        return await Probe.open(gateway)

    loop = asyncio.new_event_loop()
    try:
        probe = loop.run_until_complete(connect_probe())
        with GatewayClient(register.info["listen"]) as client:
            assert client.get_all_client_id_count() == 1
            client.send_to_all("from flask")
            assert loop.run_until_complete(probe.recv()) == "from flask"
            client.update_session(probe.client_id, {"seen": True})
            assert client.get_session(probe.client_id)["seen"] is True
            with pytest.raises(InvalidArgument):
                client.send_to_group("", "x")
        loop.run_until_complete(probe.close())
    finally:
        loop.close()
