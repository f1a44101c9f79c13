"""The external push client (GatewayWorker's GatewayClient), against two gateways in this
process (its sync form, and a gateway that stops answering, are in tests/cluster)."""

from __future__ import annotations

import pytest

from business import AsyncGatewayClient
from common.exceptions import InvalidArgument, NotRunning
from tests.cluster.client import Probe

from .harness import Services

APP = "tests.cluster.apps.probe"


async def test_async_client_pushes_and_queries(gw: Services) -> None:
    register = await gw.register()
    gw1, gw2 = await gw.gateway(register), await gw.gateway(register)
    await gw.worker(register, APP)
    a, b = await Probe.open(gw1), await Probe.open(gw2)
    await a.call("join_group", a.client_id, 100)
    await a.call("join_group", b.client_id, 100)
    await a.call("bind_uid", b.client_id, "10086")
    async with AsyncGatewayClient(register.info["listen"], timeout=5) as client:
        assert client.gateways == sorted([gw1.info["internal"], gw2.info["internal"]])
        client.send_to_group(100, {"action_type": "new_msg", "content": "你好"})
        assert await a.json() == {"action_type": "new_msg", "content": "你好"}
        assert await b.json() == {"action_type": "new_msg", "content": "你好"}
        client.send_to_uid("10086", "private")
        assert await b.recv() == "private"
        client.send_to_client(a.client_id, "direct")
        assert await a.recv() == "direct"
        count = await client.get_client_id_count_by_group(100)
        assert count == 2 and count.complete and count.missing == ()
        assert await client.is_online(b.client_id) == 1
        assert await client.get_uid_by_client_id(b.client_id) == "10086"
        with pytest.raises(InvalidArgument):
            client.join_group(a.client_id, 0)
        # no "current client" outside a worker's handler
        assert not hasattr(client, "send_to_current_client")
    with pytest.raises(NotRunning):
        client.send_to_all("after close")
    await a.close()
    await b.close()
