"""A business worker process: its start and stop callbacks, and a handler that blocks its
event loop (for longer than the peer timeout) without being taken for a dead worker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from websockets.asyncio.client import connect

from tests.cluster.client import Probe
from tests.harness import FAST, UNIT, Cluster, ws_url

APP = "tests.cluster.apps.probe"
COUNTER = "tests.cluster.apps.counter"


async def test_worker_start_and_stop_callbacks(gw: Cluster, tmp_path: Path) -> None:
    stopped = tmp_path / "stopped.txt"
    register = gw.register()
    gateway = gw.gateway(register)
    worker = gw.start(
        "worker",
        "--app",
        APP,
        "--register",
        register.info["listen"],
        "--single",
        *FAST,
        env={"PROBE_STOP_FILE": str(stopped)},
    )
    probe = await Probe.open(gateway)
    await probe.send({"started": True})
    assert await probe.json() == {"started": worker.info["pid"]}
    await probe.close()
    assert worker.stop() == 0
    assert stopped.read_text().startswith(f"stopped {worker.info['pid']} after ")


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
