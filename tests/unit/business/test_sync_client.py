"""business.client.GatewayClient: a blocking call waits as long as the call itself may."""

from __future__ import annotations

from typing import Any

import pytest

from business.client import GatewayClient


@pytest.fixture
def client() -> Any:
    sync = GatewayClient((), timeout=2.0)  # no register: it starts without waiting
    yield sync
    sync.close()


def test_a_blocking_call_waits_for_its_own_timeout(
    client: GatewayClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[float | None] = []

    def recorded(coro: Any, timeout: float | None = None) -> Any:
        given.append(timeout)
        coro.close()  # (not run: only the deadline it gets is the point)

    monkeypatch.setattr(client, "_run", recorded)
    client.drain("tcp://127.0.0.1:9")  # its own default: 60 s
    client.drain("tcp://127.0.0.1:9", timeout=120)
    client.get_status()  # a query's default: the client's query timeout
    assert given == [60.0, 120, None]
