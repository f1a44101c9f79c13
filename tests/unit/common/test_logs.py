"""common.logs: rate-limited log lines, on a fake clock."""

from __future__ import annotations

import logging

import pytest

from common.logs import Throttled


def test_throttled_lines(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = Throttled(logging.getLogger("test.throttled"), interval=1.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, "test.throttled")
    assert log.warning("a", "first %d", 1)
    assert not log.warning("a", "second")
    assert log.warning("b", "another kind")  # kinds are throttled apart
    for _ in range(5):
        log.warning("a", "held")
    now[0] = 1.5
    assert log.warning("a", "after %s", "a second")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "first 1",
        "another kind",
        "after a second (and 6 more like it in the last 2s)",
    ]
    assert log.held == 6
