"""Login throttling (examples/chat/throttle.py) with a clock passed in."""

from __future__ import annotations

import pytest

from examples.chat.throttle import Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_allowed_until_the_limit_then_refused_until_the_window_passes():
    clock = Clock()
    throttle = Throttle(limit=3, window=60, clock=clock)
    for _ in range(3):
        assert throttle.retry_after(["a"]) == 0
        throttle.failed(["a"])
        clock.now += 10
    assert throttle.retry_after(["a"]) == pytest.approx(30)  # first failure at 1000, now 1030
    assert throttle.retry_after(["b"]) == 0  # other keys are not affected
    clock.now += 30
    assert throttle.retry_after(["a"]) == 0


def test_any_exhausted_key_refuses():
    clock = Clock()
    throttle = Throttle(limit=2, window=60, clock=clock)
    throttle.failed(["name:x", "addr:1"])
    throttle.failed(["name:y", "addr:1"])
    assert throttle.retry_after(["name:z", "addr:1"]) > 0
    assert throttle.retry_after(["name:x", "addr:2"]) == 0


def test_success_clears_and_forgive_takes_back_one():
    clock = Clock()
    throttle = Throttle(limit=2, window=60, clock=clock)
    throttle.failed(["a", "b"])
    throttle.failed(["a", "b"])
    assert throttle.retry_after(["a"]) > 0 and throttle.retry_after(["b"]) > 0
    throttle.succeeded(["a"])
    assert throttle.retry_after(["a"]) == 0
    throttle.forgive_last(["b"])
    assert throttle.retry_after(["b"]) == 0
    throttle.failed(["b"])
    assert throttle.retry_after(["b"]) > 0


def test_memory_is_bounded():
    clock = Clock()
    throttle = Throttle(limit=1, window=60, clock=clock, max_keys=3)
    for key in "abcd":
        throttle.failed([key])
    assert throttle.retry_after(["a"]) == 0  # the stalest key was dropped
    assert all(throttle.retry_after([k]) > 0 for k in "bcd")


def test_bad_settings():
    with pytest.raises(ValueError):
        Throttle(limit=0)
