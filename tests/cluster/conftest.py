from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness import Cluster


@pytest.fixture(autouse=True)
async def _close_probes(gw: Cluster) -> AsyncIterator[None]:
    """Close every test WebSocket client, even after a failure.

    It depends on ``gw`` so that clients close before the processes stop (else
    each close would wait for a closing handshake that never comes).
    """
    from tests.cluster.client import Probe

    yield
    while Probe.opened:
        await Probe.opened.pop().ws.close()
