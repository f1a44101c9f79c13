"""Throttling of password guesses (examples/chat/web/throttle.py) with a clock passed in."""

from __future__ import annotations

import pytest

from examples.chat.web.throttle import ACCOUNT, ADDRESS, Attempt, Backoff, LoginThrottle, Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_waits_double_after_the_free_failures_up_to_the_longest():
    backoff = Backoff(free=3, first=2, longest=30, forget=600)
    assert [backoff.wait(n) for n in range(9)] == [0, 0, 0, 2, 4, 8, 16, 30, 30]
    assert backoff.wait(10_000) == 30  # no overflow


@pytest.mark.parametrize(
    "bad", [{"free": -1}, {"first": 0}, {"first": 5, "longest": 2}, {"longest": 100, "forget": 50}]
)
def test_bad_settings(bad):
    with pytest.raises(ValueError):
        Backoff(**{"free": 1, "first": 1, "longest": 10, "forget": 100, **bad})


def test_each_failure_past_the_free_ones_waits_longer_from_the_latest():
    clock = Clock()
    throttle = Throttle(Backoff(free=2, first=1, longest=8, forget=100), clock)
    throttle.failed(["a"])
    throttle.failed(["a"])
    assert throttle.retry_after(["a"]) == 1  # the 2nd failure was the last free one
    assert throttle.retry_after(["b"]) == 0  # other keys are not affected
    clock.now += 1
    assert throttle.retry_after(["a"]) == 0
    throttle.failed(["a"])
    assert throttle.retry_after(["a"]) == 2
    clock.now += 2
    throttle.failed(["a"])
    clock.now += 1
    assert throttle.retry_after(["a"]) == 3  # 4 after the 4th failure, 1 of them gone
    for _ in range(5):
        throttle.failed(["a"])
    assert throttle.retry_after(["a"]) == 8  # the longest


def test_a_quiet_key_is_forgotten():
    clock = Clock()
    throttle = Throttle(Backoff(free=1, first=10, longest=10, forget=60), clock)
    throttle.failed(["a"])
    clock.now += 59
    throttle.failed(["a"])  # still remembered: the count goes on
    assert throttle.retry_after(["a"]) == 10
    clock.now += 60
    assert throttle.retry_after(["a"]) == 0
    throttle.failed(["a"])  # afresh: one failure, the free one
    assert throttle.retry_after(["a"]) == 10 and throttle.backoff.wait(1) == 10


def test_any_waiting_key_holds_an_attempt_back():
    throttle = Throttle(Backoff(free=1, first=5, longest=5, forget=60), Clock())
    throttle.failed(["name:x", "addr:1"])
    assert throttle.retry_after(["name:z", "addr:1"]) == 5
    assert throttle.retry_after(["name:x", "addr:2"]) == 5
    assert throttle.retry_after(["name:y", "addr:2"]) == 0


def test_success_clears_and_forgive_takes_back_one():
    clock = Clock()
    throttle = Throttle(Backoff(free=1, first=5, longest=5, forget=60), clock)
    throttle.failed(["a", "b"])
    assert throttle.retry_after(["a"]) > 0 and throttle.retry_after(["b"]) > 0
    throttle.succeeded(["a"])
    assert throttle.retry_after(["a"]) == 0
    throttle.forgive_last(["b"])
    assert throttle.retry_after(["b"]) == 0
    throttle.failed(["b"])
    clock.now += 3
    throttle.failed(["b"])
    throttle.forgive_last(["b"])
    assert throttle.retry_after(["b"]) == 2  # one of two taken back: 5 s from the first
    throttle.forgive_last(["never-failed"])


def test_memory_is_bounded():
    throttle = Throttle(Backoff(free=0, first=1, longest=1, forget=60), Clock(), max_keys=3)
    for key in "abcd":
        throttle.failed([key])
    assert throttle.retry_after(["a"]) == 0  # the stalest key was dropped
    assert all(throttle.retry_after([k]) > 0 for k in "bcd")


def attack(logins: LoginThrottle, clock: Clock, attempt: Attempt, seconds: float) -> list[float]:
    """An attacker who guesses wrong as soon as allowed, for ``seconds`` (and stops
    waiting for a turn that would come later): the waits it was told."""
    told = []
    end = clock.now + seconds
    while True:
        wait = logins.begin(attempt)  # 0: it guessed (and failed)
        if wait and clock.now + wait > end:
            return told
        if wait:
            told.append(wait)
            clock.now += wait


def test_one_address_is_slowed_down_more_and_more():
    clock = Clock()
    logins = LoginThrottle(clock)
    told = attack(logins, clock, Attempt("6.6.6.6", "victim"), 3 * 3600)
    assert told[:3] == [1, 2, 4]  # the account's waits first (5 free), then the address's
    assert max(told) == ADDRESS.longest
    guesses = len(told) + 1  # every wait is followed by a guess
    assert guesses < 20 + 3 * 3600 / ADDRESS.longest  # about one a quarter-hour
    # other accounts from that address wait as long
    assert logins.begin(Attempt("6.6.6.6", "someone-else")) == pytest.approx(ADDRESS.longest)


def test_many_addresses_get_one_guess_a_minute_per_account():
    clock = Clock()
    logins = LoginThrottle(clock)
    guesses = 0
    for second in range(3600):  # a new address every second, each trying at once
        clock.now = 1000.0 + second
        guesses += logins.begin(Attempt(f"10.0.{second // 256}.{second % 256}", "victim")) == 0
    assert guesses <= ACCOUNT.free + 3600 / ACCOUNT.longest + 10


def test_the_owners_browser_is_never_held_back_by_the_attack():
    clock = Clock()
    logins = LoginThrottle(clock)
    attacker, usual = Attempt("6.6.6.6", "owner"), Attempt("1.2.3.4", "owner", device="d1")
    for _ in range(24):  # a day of attack, and the owner logs in every hour
        attack(logins, clock, attacker, 3600)
        assert logins.by_account.retry_after(["name:owner"]) > 0  # under attack now
        assert logins.begin(usual) == 0  # and yet at once
        logins.succeeded(usual)


def test_an_owner_on_a_new_browser_waits_a_minute_at_most():
    clock = Clock()
    logins = LoginThrottle(clock)
    attack(logins, clock, Attempt("6.6.6.6", "owner"), 3600)
    new_browser = Attempt("1.2.3.4", "owner")
    wait = logins.begin(new_browser)
    assert 0 < wait <= ACCOUNT.longest  # never the attacker's quarter-hour
    clock.now += wait
    assert logins.begin(new_browser) == 0
    logins.succeeded(new_browser)
    assert logins.by_address.retry_after(["addr:1.2.3.4"]) == 0
    # the owner's success gave the attacker no fresh guesses: one more guess, from
    # any address, and the account waits its longest again
    assert logins.begin(Attempt("7.7.7.7", "owner")) == 0
    assert logins.begin(Attempt("8.8.8.8", "owner")) == ACCOUNT.longest


def test_a_device_is_held_back_by_its_own_failures():
    clock = Clock()
    logins = LoginThrottle(clock)
    stolen = Attempt("6.6.6.6", "owner", device="d1")
    told = attack(logins, clock, stolen, 3600)
    assert told[0] == 1 and max(told) == 300  # per device, growing
    assert logins.begin(Attempt("1.2.3.4", "owner", device="d2")) == 0  # another device
    assert logins.by_account.retry_after(["name:owner"]) == 0  # untrusted ones untouched


def test_a_success_takes_back_its_own_attempt_only():
    clock = Clock()
    logins = LoginThrottle(clock)
    for n in range(9):  # guesses at nine accounts from one address, one try each
        assert logins.begin(Attempt("6.6.6.6", f"user{n}")) == 0
    own = Attempt("6.6.6.6", "mallory")
    for _ in range(4):
        assert logins.begin(own) == 0
        logins.succeeded(own)  # the attacker logs in to its own account, often
    assert logins.begin(Attempt("6.6.6.6", "user9")) == 0  # the tenth guess: free
    assert logins.begin(Attempt("6.6.6.6", "user10")) > 0  # its own logins wiped nothing
