"""Token buckets: how many of something a client may do per second (pure, no I/O).

A bucket holds up to ``burst`` tokens and refills at ``rate`` per second; each
message, control frame or request takes one. The clock is passed in, so tests need
no sleep. :class:`Buckets` keeps one bucket per key (an API key, a remote address)
and stays bounded however many keys a flood brings.
"""

from __future__ import annotations


class TokenBucket:
    """``rate`` per second on average, ``burst`` at once."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float) -> bool:
        """Take one token; False if there is none (the caller is over its rate)."""
        tokens = self.tokens + (now - self.stamp) * self.rate
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = min(tokens, self.burst) - 1.0
            return True
        self.tokens = tokens
        return False

    def level(self, now: float) -> float:
        """The tokens it holds now (refilled since its last take, up to its burst)."""
        return min(self.tokens + (now - self.stamp) * self.rate, self.burst)

    def full(self, now: float) -> bool:
        """True if the bucket has refilled to its burst: forgetting it changes nothing."""
        return self.level(now) >= self.burst


class Buckets:
    """One :class:`TokenBucket` per key, at most ``limit`` of them.

    A key seen for the first time gets a full bucket. Past ``limit`` keys, the full
    buckets are forgotten (a full bucket is what a new one would be); if none is full
    (a flood from that many keys at once), the fuller half is: memory stays bounded,
    and the keys that spent their buckets stay limited (forgetting every bucket let a
    flood of new keys, from one holder of many addresses, refill its own; a slow
    refill, as accounts an hour, is rarely full).
    """

    def __init__(self, rate: float, burst: float, limit: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.limit = limit
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str, now: float) -> bool:
        """Take one token from ``key``'s bucket; False if it is over its rate."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.limit:
                self._prune(now)
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(now)

    def _prune(self, now: float) -> None:
        buckets = self._buckets
        full = [key for key, bucket in buckets.items() if bucket.full(now)]
        if not full:  # the fuller half: those least held back by forgetting them
            by_level = sorted(buckets, key=lambda key: buckets[key].level(now))
            full = by_level[len(by_level) // 2 :]
        for key in full:
            del buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
