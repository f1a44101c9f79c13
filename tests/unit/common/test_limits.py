"""common.limits: one token bucket per key, bounded however many keys come (fake clock)."""

from __future__ import annotations

from common.limits import Buckets, TokenBucket


def test_a_bucket_says_when_it_is_full_again() -> None:
    bucket = TokenBucket(rate=2, burst=4, now=0.0)
    assert bucket.full(0.0)
    assert bucket.take(0.0) and not bucket.full(0.0)
    assert not bucket.full(0.4)  # 3 + 0.8 tokens
    assert bucket.full(0.5)


def test_each_key_has_its_own_bucket() -> None:
    buckets = Buckets(rate=1, burst=2)
    assert [buckets.take("a", 0.0) for _ in range(3)] == [True, True, False]
    assert buckets.take("b", 0.0)  # another key: a full bucket of its own
    assert not buckets.take("a", 0.5)
    assert buckets.take("a", 1.0)
    assert len(buckets) == 2


def test_past_the_limit_full_buckets_are_forgotten_first() -> None:
    buckets = Buckets(rate=1, burst=2, limit=3)
    assert buckets.take("busy", 0.0) and buckets.take("busy", 0.0)  # empty now
    buckets.take("idle-1", 0.0)
    buckets.take("idle-2", 0.0)
    # at 1.5 s the idle ones have refilled; "busy" has not (1.5 of 2 tokens)
    assert buckets.take("new", 1.5)
    assert len(buckets) == 2  # "busy" and "new"
    assert buckets.take("busy", 1.5) and not buckets.take("busy", 1.5)  # its state was kept


def test_a_flood_of_new_keys_stays_bounded() -> None:
    buckets = Buckets(rate=1, burst=1, limit=100)
    for n in range(10_000):
        assert buckets.take(f"address-{n}", 0.0)  # each new key's first request passes
        assert len(buckets) <= 100
    assert not buckets.take("address-9999", 0.0)  # but not its second


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    bucket = TokenBucket(rate=5, burst=10, now=0.0)
    assert [bucket.take(0.0) for _ in range(11)] == [True] * 10 + [False]
    assert not bucket.take(0.1)  # half a token
    assert bucket.take(0.2)  # a whole one (5/s)
    assert not bucket.take(0.2)
    assert [bucket.take(100.0) for _ in range(11)] == [True] * 10 + [False]  # burst is a cap


def test_a_flood_of_new_keys_does_not_refill_a_spent_bucket() -> None:
    """Accounts an hour, per address: one address spent its bucket; a flood of other
    addresses (each one new: no bucket is full) does not make it forget that one."""
    buckets = Buckets(rate=20 / 3600, burst=20, limit=100)
    for _ in range(20):
        assert buckets.take("spent", now=0.0)
    assert not buckets.take("spent", now=1.0)
    for n in range(1000):
        assert buckets.take(f"flood-{n}", now=2.0)
        assert len(buckets) <= 100
    assert not buckets.take("spent", now=3.0)
