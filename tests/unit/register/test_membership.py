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
