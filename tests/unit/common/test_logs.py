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


def test_a_burst_is_written_whole_then_held_back(caplog: pytest.LogCaptureFixture) -> None:
    """burst=3: three lines of a key in an interval (a restart of three workers, each
    named), the rest counted and said with the next one written."""
    now = [0.0]
    log = Throttled(logging.getLogger("test.burst"), clock=lambda: now[0], burst=3)
    caplog.set_level(logging.INFO, "test.burst")
    written = [log.info("joined", "worker %d joined", n) for n in range(10)]
    assert written == [True] * 3 + [False] * 7
    now[0] = 1.0
    assert log.info("joined", "worker %d joined", 10)
    assert [r.getMessage() for r in caplog.records][-1] == (
        "worker 10 joined (and 7 more like it in the last 1s)"
    )
    assert log.info("joined", "worker %d joined", 11) and log.held == 7  # a new window
