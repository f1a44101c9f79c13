"""Throttling of repeated login failures (pure: the clock is passed in).

Each key (a nickname, a client address) may fail ``limit`` times within ``window``
seconds; the next attempt is refused until the oldest of those failures is
``window`` old. A success clears the key. Keeping several keys per attempt means
one address cannot guess many nicknames quickly, and many addresses cannot guess
one nickname quickly either.

State is in memory: the web backend is one process, and a restart forgetting
recent failures costs an attacker a restart, not a bypass. Memory is bounded:
keys whose failures are all older than the window are dropped as they are seen,
and past ``max_keys`` the stalest keys go first.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable


class Throttle:
    """Failures per key in a sliding window."""

    def __init__(
        self,
        limit: int = 5,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a throttle needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until an attempt for all of ``keys`` is allowed (0: allowed now)."""
        now = self._clock()
        wait = 0.0
        for key in keys:
            times = self._recent(key, now)
            if times is not None and len(times) >= self.limit:
                wait = max(wait, times[-self.limit] + self.window - now)
        return wait

    def failed(self, keys: Iterable[str]) -> None:
        """Count one failed attempt against each key."""
        now = self._clock()
        for key in keys:
            times = self._recent(key, now)
            if times is None:
                times = self._failures[key] = deque(maxlen=self.limit)
            times.append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, keys: Iterable[str]) -> None:
        """Forget the failures of ``keys`` (the right password was given)."""
        for key in keys:
            self._failures.pop(key, None)

    def forgive_last(self, keys: Iterable[str]) -> None:
        """Take back the latest failure of each key: an attempt counted before it was
        checked (so that parallel guesses are all counted) turned out right."""
        for key in keys:
            times = self._failures.get(key)
            if times:
                times.pop()
                if not times:
                    del self._failures[key]
