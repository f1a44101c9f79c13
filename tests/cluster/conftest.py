from __future__ import annotations

from collections.abc import AsyncIterator

import pytest


@pytest.fixture(autouse=True)
async def _close_probes() -> AsyncIterator[None]:
    """Close every test WebSocket client, even after a failure."""
    from tests.cluster.client import Probe

    yield
    while Probe.opened:
        await Probe.opened.pop().ws.close()
