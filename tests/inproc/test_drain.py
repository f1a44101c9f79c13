"""A drain closes clients in waves spread over the drain time, each with 1012."""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.exceptions import ConnectionClosed

from gateway import edge
from tests.harness import UNIT

from . import app
from .harness import cluster


async def test_a_drain_spreads_its_closes_over_the_drain_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(edge, "DRAIN_RATE", 20.0)  # 40 clients: the whole second, 20 waves
    async with cluster(app, drain_time=1.0) as c:
        clients = [await c.client().__aenter__() for _ in range(40)]
        closed_at: list[float] = []

        async def wait_close(ws: object) -> int:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()  # type: ignore[attr-defined]
            closed_at.append(time.monotonic())
            assert closed.value.rcvd is not None
            return closed.value.rcvd.code

        waiting = [asyncio.create_task(wait_close(ws)) for ws in clients]
        started = time.monotonic()
        c.gateway.close()  # as SIGTERM
        codes = await asyncio.wait_for(asyncio.gather(*waiting), 10 * UNIT)
        assert codes == [1012] * 40
        assert c.gateway.ready() == (False, "draining")
        spread = max(closed_at) - min(closed_at)
        assert 0.5 <= spread <= 3 * UNIT, spread  # in waves, not all at once
        assert min(closed_at) - started < 0.5  # the first wave at once
