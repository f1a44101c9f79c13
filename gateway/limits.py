"""Token buckets: how many of something a client may do per second (pure, no I/O).

A bucket holds up to ``burst`` tokens and refills at ``rate`` per second; each
message (or control frame) takes one. The clock is passed in, so tests need no sleep.
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
