"""gateway.registers.Reach: whether any worker can reach this gateway (a fake clock)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from common.config import GatewayConfig, Timing
from gateway.addresses import Addresses
from gateway.registers import Reach
from gateway.router import WorkerPool


class Registers:
    """The register links, as Reach reads them."""

    registers = ("10.0.0.9:1236",)

    def __init__(self) -> None:
        self.up = 0

    def linked(self) -> int:
        return self.up


def reach() -> tuple[Reach, Registers, WorkerPool, list[float]]:
    clock = [0.0]
    registers, pool = Registers(), WorkerPool()
    config = GatewayConfig(timing=Timing(heartbeat=1.0, timeout=3.0))
    r = Reach(config, registers, pool, Addresses(1, "10.0.0.1"), lambda: clock[0])  # type: ignore[arg-type]
    r.start()
    return r, registers, pool, clock


def test_unlinked_past_a_link_timeout_from_the_start_is_unreachable() -> None:
    r, _, _, clock = reach()
    timeout = GatewayConfig(timing=Timing(heartbeat=1.0, timeout=3.0)).timing.link_timeout
    clock[0] = timeout - 0.1
    assert r.reachable()  # links take a moment: a grace
    clock[0] = timeout + 0.1
    assert not r.reachable()


def test_a_register_link_or_a_worker_is_enough_and_the_grace_restarts_after() -> None:
    r, registers, pool, clock = reach()
    registers.up = 1
    clock[0] = 100.0
    assert r.reachable()
    registers.up = 0
    pool.hello(b"w", "w", 1, 0.0)
    assert r.reachable()  # a worker, no register
    pool.remove(b"w")
    clock[0] = 101.0
    assert r.reachable()  # unlinked since just now: a grace again
    clock[0] = 200.0
    assert not r.reachable()


def test_it_says_so_once_and_once_more_when_linked_again(caplog: pytest.LogCaptureFixture) -> None:
    r, registers, _, clock = reach()
    clock[0] = 100.0
    with caplog.at_level(logging.INFO, logger="gateway.server"):
        r.say()
        r.say()
        registers.up = 1
        r.say()
        r.say()
    lines: list[Any] = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert "no worker can reach this gateway" in lines[0] and "10.0.0.9:1236" in lines[0]
    assert "linked again (registers 1, workers 0)" in lines[1]
