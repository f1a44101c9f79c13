"""What gw connections and gw drain ask through the push client's public verbs."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

from business import AsyncGatewayClient
from tests.harness import UNIT, eventually_async

from . import app
from .harness import cluster

pytestmark = pytest.mark.timeout(30 * UNIT)


async def test_get_connections_lists_every_client() -> None:
    async with (
        cluster(app) as c,
        AsyncGatewayClient(c.register.address, timeout=5 * UNIT) as push,
        c.client() as first,
        c.client() as second,
    ):
        await eventually_async(lambda: push.gateways)
        found = await push.get_connections()
        assert sorted(conn["client_id"] for conn in found) == sorted(c.gateway.index.clients)
        assert len(found) == 2 and found.missing == ()
        assert {conn["remote"] for conn in found} == {
            f"{ws.local_address[0]}:{ws.local_address[1]}" for ws in (first, second)
        }


async def test_drain_closes_the_clients_then_returns_once_the_gateway_is_gone() -> None:
    async with cluster(app, drain_time=0.3) as c, c.client() as ws:
        left: list[int] = []
        async with AsyncGatewayClient((), timeout=5 * UNIT) as push:
            await push.drain(
                c.gateway.addresses.internal, timeout=10 * UNIT, every=0.05, progress=left.append
            )
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        assert c.gateway.ready() == (False, "draining")
        assert all(n in (0, 1) for n in left)  # while it drained: the one client, then none
