from __future__ import annotations

import json

from websockets.asyncio.client import connect

from tests.harness import ws_url


async def test_event_round_trip(gw):
    register = gw.register()
    gateway = gw.gateway(register)
    gw.worker(register, "tests.cluster.apps.probe")
    async with connect(ws_url(gateway, "/room?uid=7")) as ws:
        welcome = json.loads(await ws.recv())
        connected = json.loads(await ws.recv())
        assert welcome["welcome"]
        assert connected["ws_connect"]["path"] == "/room"
        await ws.send(json.dumps({"call": "get_all_client_id_count"}))
        assert json.loads(await ws.recv()) == {"result": 1, "missing": []}
