"""register.membership: who is registered, expiry driven by a clock passed in."""

from __future__ import annotations

from register.membership import Membership

A, B = "tcp://10.0.0.1:2900", "tcp://10.0.0.2:2900"
PUB_A, PUB_B = "ws://a.example:7272", "ws://b.example:7272"
TIMEOUT = 10.0


def fresh(now: float = 1000.0) -> Membership:
    return Membership(timeout=TIMEOUT, now=now)


def test_starts_empty() -> None:
    m = fresh()
    assert m.gateways() == {}
    assert m.public_addresses() == {}
    assert m.subscribers() == []


def test_announce_new_gateway_is_a_change() -> None:
    m = fresh()
    assert m.announce(A, PUB_A, 5, now=1000.0) is True
    assert m.announce(B, PUB_B, 6, now=1000.0) is True
    assert m.gateways() == {A: 5, B: 6}
    assert m.public_addresses() == {A: PUB_A, B: PUB_B}


def test_heartbeat_is_not_a_change() -> None:
    m = fresh()
    m.announce(A, PUB_A, 5, now=1000.0)
    assert m.announce(A, PUB_A, 5, now=1003.0) is False
    assert m.gateways() == {A: 5}


def test_new_epoch_is_a_change() -> None:
    m = fresh()
    m.announce(A, PUB_A, 5, now=1000.0)
    assert m.announce(A, PUB_A, 6, now=1001.0) is True  # the gateway restarted
    assert m.gateways() == {A: 6}
    assert m.announce(A, PUB_A, 6, now=1002.0) is False


def test_public_address_follows_the_latest_announce() -> None:
    m = fresh()
    m.announce(A, PUB_A, 5, now=1000.0)
    m.announce(A, "ws://moved:1", 5, now=1001.0)
    assert m.public_addresses() == {A: "ws://moved:1"}


def test_goodbye() -> None:
    m = fresh()
    m.announce(A, PUB_A, 5, now=1000.0)
    m.announce(B, PUB_B, 6, now=1000.0)
    assert m.goodbye(A) is True
    assert m.gateways() == {B: 6}
    assert m.goodbye(A) is False
    assert m.goodbye("tcp://never:1") is False


def test_reannounce_after_goodbye_is_a_change() -> None:
    m = fresh()
    m.announce(A, PUB_A, 5, now=1000.0)
    m.goodbye(A)
    assert m.announce(A, PUB_A, 5, now=1001.0) is True


def test_expire_drops_only_silent_gateways() -> None:
    m = fresh()
    m.announce(A, PUB_A, 5, now=1000.0)
    m.announce(B, PUB_B, 6, now=1005.0)
    assert m.expire(now=1010.0) is False  # A silent exactly one timeout: still alive
    assert m.gateways() == {A: 5, B: 6}
    assert m.expire(now=1010.5) is True
    assert m.gateways() == {B: 6}
    assert m.public_addresses() == {B: PUB_B}
    assert m.expire(now=1010.5) is False  # nothing more to drop
    assert m.expire(now=1016.0) is True
    assert m.gateways() == {}


def test_heartbeats_keep_a_gateway_alive() -> None:
    m = fresh()
    for t in range(0, 100, 5):
        m.announce(A, PUB_A, 5, now=1000.0 + t)
        assert m.expire(now=1000.0 + t + 1) is False
    assert m.gateways() == {A: 5}


def test_expired_gateway_coming_back_is_a_change() -> None:
    m = fresh()
    m.announce(A, PUB_A, 5, now=1000.0)
    m.expire(now=1100.0)
    assert m.announce(A, PUB_A, 5, now=1100.0) is True


def test_subscribe_is_new_once() -> None:
    m = fresh()
    assert m.subscribe(b"w1", now=1000.0) is True
    assert m.subscribe(b"w1", now=1001.0) is False
    assert m.subscribe(b"w2", now=1001.0) is True
    assert sorted(m.subscribers()) == [b"w1", b"w2"]


def test_expire_drops_silent_subscribers_without_a_gateway_change() -> None:
    m = fresh()
    m.announce(A, PUB_A, 5, now=1000.0)
    m.subscribe(b"w1", now=1000.0)
    m.subscribe(b"w2", now=1008.0)
    m.announce(A, PUB_A, 5, now=1008.0)
    assert m.expire(now=1012.0) is False  # only a subscriber went: the list did not change
    assert m.subscribers() == [b"w2"]
    assert m.gateways() == {A: 5}


def test_expired_subscriber_is_new_again() -> None:
    m = fresh()
    m.subscribe(b"w1", now=1000.0)
    m.expire(now=1020.0)
    assert m.subscribers() == []
    assert m.subscribe(b"w1", now=1020.0) is True


def test_complete_after_one_timeout() -> None:
    m = fresh(now=1000.0)
    assert m.complete(now=1000.0) is False
    assert m.complete(now=1009.9) is False
    assert m.complete(now=1010.0) is True
    assert m.complete(now=5000.0) is True


def test_complete_does_not_depend_on_announces() -> None:
    m = fresh(now=1000.0)
    m.announce(A, PUB_A, 5, now=1001.0)
    assert m.complete(now=1002.0) is False
    m.goodbye(A)
    assert m.complete(now=1011.0) is True


# -- cut off: a register that heard from nobody ------------------------------------
QUIET, SETTLE = 1.5, 3.5


def watched(now: float = 1000.0) -> Membership:
    """A register that knows when it was cut off (``quiet``) and waits ``settle``."""
    return Membership(timeout=TIMEOUT, now=now, settle=SETTLE, quiet=QUIET)


def test_settle_defaults_to_one_timeout() -> None:
    m = fresh(now=1000.0)
    assert m.settle == TIMEOUT and m.quiet is None
    m.heard(now=1500.0)  # without quiet, a long silence changes nothing
    assert m.complete(now=1500.0) is True


def test_fresh_register_is_complete_after_settle_while_it_hears_peers() -> None:
    m = watched(now=1000.0)
    for t in (1000.5, 1001.5, 1002.5, 1003.4):
        assert m.heard(now=t) is False
        assert m.complete(now=t) is False
    assert m.heard(now=1003.5) is False
    assert m.complete(now=1003.5) is True


def test_fresh_register_that_hears_nobody_is_not_complete() -> None:
    m = watched(now=1000.0)
    assert m.complete(now=1003.5) is False  # settled, but silent for longer than quiet
    assert m.complete(now=1100.0) is False


def test_a_first_peer_late_after_the_start_does_not_start_the_settling_over() -> None:
    m = watched(now=1000.0)
    assert m.complete(now=1005.0) is False  # nobody yet
    assert m.heard(now=1005.0) is False  # not "cut off": it never heard anyone before
    assert m.complete(now=1005.0) is True  # settle counts from the start


def settled() -> Membership:
    m = watched(now=1000.0)
    for t in range(1000, 1011):
        m.announce(A, PUB_A, 5, now=float(t))
        m.heard(now=float(t))
    assert m.complete(now=1010.0)
    return m


def test_silence_longer_than_quiet_makes_the_list_incomplete_at_once() -> None:
    m = settled()
    assert m.complete(now=1011.5) is True  # 1.5s of silence: still heartbeat jitter
    assert m.complete(now=1011.6) is False  # no need to wait for a frame to know


def test_a_register_cut_off_then_back_settles_again() -> None:
    m = settled()
    # cut off for 20s: every gateway expires, and the list must not claim it is complete
    assert m.expire(now=1030.0) is True
    assert m.gateways() == {}
    assert m.complete(now=1030.0) is False
    assert m.heard(now=1030.0) is True  # back: cut off, not just started
    m.announce(B, PUB_B, 6, now=1030.0)
    for t in (1031.0, 1032.0, 1033.0):
        m.heard(now=t)
        assert m.complete(now=t) is False
    m.heard(now=1033.5)
    assert m.complete(now=1033.5) is True


def test_a_short_silence_keeps_the_list_complete() -> None:
    m = settled()
    assert m.heard(now=1011.4) is False
    assert m.complete(now=1011.4) is True
