"""Several workers in one process: ``business.api`` sends through the worker it is
called from, in a handler, in ``on_worker_start`` and in what that starts; nowhere
else."""

from __future__ import annotations

import json

import pytest

from business import api
from common.exceptions import NotRunning
from tests.harness import UNIT

from . import app
from .harness import cluster, recv_json, services

pytestmark = pytest.mark.timeout(30 * UNIT)


async def test_each_handler_sends_through_its_own_worker() -> None:
    async with cluster(app, workers=2) as c:
        clients = [await c.client().__aenter__() for _ in range(6)]
        try:
            answered = {}
            for ws in clients:
                await ws.send(json.dumps({"whoami": True}))
                reply = await recv_json(ws)
                answered[reply["client_id"]] = reply["worker"]
            pool = c.gateway.dispatcher.pool
            routed = {
                client.client_id: pool.workers[client.worker].name
                for client in c.gateway.index.clients.values()
                if client.worker is not None
            }
            # each reply came through the worker the gateway sent that client to...
            assert answered == routed
            # ...and the gateway spread the clients (least connections): both answered
            assert set(answered.values()) == {w.cluster.name for w in c.workers}
        finally:
            for ws in clients:
                await ws.close()


async def test_on_worker_start_and_what_it_starts_find_their_worker() -> None:
    app.STARTED.clear()
    async with cluster(app, workers=2) as c:
        expected = {w.config.name: (w.cluster, w.cluster) for w in c.workers}
        assert expected == app.STARTED


async def test_outside_any_worker_the_api_is_not_running() -> None:
    async with cluster(app, workers=2):
        with pytest.raises(NotRunning, match="outside a running worker"):
            api.send_to_all("to everyone")
        with pytest.raises(NotRunning):
            api.current  # noqa: B018 - the property raises


async def test_a_slow_on_worker_start_is_said_and_holds_the_worker_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker takes no events until on_worker_start returns (it may open what the
    handlers need); one that takes long is said, so that a worker that never becomes
    ready is not a mystery."""
    import asyncio
    import logging
    import types

    from business import worker as worker_module

    monkeypatch.setattr(worker_module, "SLOW_START", 0.05)
    release = asyncio.Event()
    said_ready = []

    async def on_worker_start(worker: object) -> None:
        await release.wait()
        said_ready.append(True)

    def on_message(client_id: str, message: str) -> None:
        api.send_to_current_client(message)

    slow = types.ModuleType("slow_start_app")
    slow.on_worker_start = on_worker_start  # type: ignore[attr-defined]
    slow.on_message = on_message  # type: ignore[attr-defined]
    caplog.set_level(logging.WARNING, logger="business.worker")
    async with services() as s:
        register = await s.register()
        starting = asyncio.create_task(s.worker(register, slow))
        warned = "on_worker_start has run for 0.05s"
        while warned not in caplog.text:
            assert not starting.done()  # held back while its start runs
            await asyncio.sleep(0.01)
        release.set()
        await starting
        assert said_ready == [True]


async def test_a_slow_sync_on_worker_start_is_said_too(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A plain function that takes long holds the event loop itself: said all the same
    (the usual shape of a port from PHP)."""
    import logging
    import time
    import types

    from business import worker as worker_module

    monkeypatch.setattr(worker_module, "SLOW_START", 0.05)

    def on_worker_start(worker: object) -> None:
        time.sleep(0.3)  # blocking, as a synchronous start does

    slow = types.ModuleType("slow_sync_start_app")
    slow.on_worker_start = on_worker_start  # type: ignore[attr-defined]
    slow.on_message = lambda client_id, message: None  # type: ignore[attr-defined]
    caplog.set_level(logging.WARNING, logger="business.worker")
    async with services() as s:
        await s.worker(await s.register(), slow)
    assert "on_worker_start has run for 0.05s" in caplog.text
