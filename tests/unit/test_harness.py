"""The test harness's own rules that the suite leans on (tests/harness.py)."""

from __future__ import annotations

import pytest

from tests import harness


@pytest.mark.parametrize("worker", [0, 1, 2])
def test_free_ports_are_each_processs_own_and_never_given_twice(
    worker: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{worker}")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    monkeypatch.setattr(harness, "_HANDED", set())
    low = harness._ephemeral_low()
    start = max(1024, low - 12000)
    given = [harness.free_port() for _ in range(300)]
    assert len(set(given)) == len(given)  # never twice
    assert all(start <= port < low for port in given)  # below the ephemeral range
    assert {(port - start) % 3 for port in given} == {worker}  # its share only
