from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .harness import Services, services


@pytest.fixture
async def gw() -> AsyncIterator[Services]:
    """Services in this process for one test (as ``gw`` starts processes in
    tests/cluster); every test WebSocket client is closed before they stop."""
    from tests.cluster.client import Probe

    async with services() as started:
        yield started
        while Probe.opened:
            await Probe.opened.pop().ws.close()
