"""Throttling of password guesses (pure: the clock is passed in).

An attacker must be slowed down without the owner being locked out, so nothing here
ever refuses for long what the owner does:

- :class:`Throttle` counts failures per key; after ``free`` of them each further
  attempt waits, from the latest failure, a time that doubles with every failure up
  to ``longest`` (:class:`Backoff`). A key quiet for ``forget`` seconds starts afresh.
- :class:`LoginThrottle` chooses the keys of an attempt. A browser that logged in to
  this account before (a valid device cookie, :mod:`examples.chat.web.devices`) is
  *trusted*: only its own failures slow it down (per device), so an attack on the
  account, from anywhere, never delays the owner's usual browser. Any other attempt
  is *untrusted*: it waits for its address (every nickname tried from it) and for the
  account (every untrusted address). The account's waits are short (a minute at
  most), so an owner on a new browser is delayed, never locked out; the address's are
  long, so one address guesses slowly; an attacker with many addresses is held to
  one guess a minute per account (the owner's usual browser is not affected).

State is in memory: the web backend is one process, and a restart forgetting recent
failures costs an attacker a restart, not a bypass. Memory is bounded: keys quiet
past ``forget`` are dropped as they are seen, and past ``max_keys`` the stalest go
first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long a key waits after ``failures`` failures."""

    free: int = 5  # failures with no wait after them
    first: float = 1.0  # seconds: the wait after the first failure past the free ones
    longest: float = 60.0  # the wait doubles with each failure, up to this
    forget: float = 3600.0  # a key with no failure for this long starts afresh

    def __post_init__(self) -> None:
        if self.free < 0 or not 0 < self.first <= self.longest <= self.forget:
            raise ValueError("a backoff needs free >= 0 and 0 < first <= longest <= forget")

    def wait(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        doublings = min(failures - self.free, 64)  # 2**64 seconds is long enough
        return float(min(self.first * 2**doublings, self.longest))


@dataclass(slots=True)
class _Failures:
    count: int
    last: float  # the clock at the latest failure
    before: float  # ... and at the one before it (for forgive_last)


class Throttle:
    """Failures per key, each followed by a wait that grows with their number."""

    def __init__(
        self,
        backoff: Backoff,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.backoff = backoff
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def _recent(self, key: str, now: float) -> _Failures | None:
        found = self._failures.get(key)
        if found is not None and now - found.last >= self.backoff.forget:
            del self._failures[key]
            return None
        return found

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until an attempt for all of ``keys`` is allowed (0: allowed now)."""
        now = self._clock()
        wait = 0.0
        for key in keys:
            found = self._recent(key, now)
            if found is not None:
                wait = max(wait, found.last + self.backoff.wait(found.count) - now)
        return wait

    def failed(self, keys: Iterable[str]) -> None:
        """Count one failed attempt against each key."""
        now = self._clock()
        for key in keys:
            found = self._recent(key, now)
            if found is None:
                self._failures[key] = _Failures(1, now, now)
            else:
                found.count, found.last, found.before = found.count + 1, now, found.last
                self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, keys: Iterable[str]) -> None:
        """Forget the failures of ``keys`` (the right password was given)."""
        for key in keys:
            self._failures.pop(key, None)

    def forgive_last(self, keys: Iterable[str]) -> None:
        """Take back the latest failure of each key: an attempt counted before it was
        checked (so that parallel guesses are all counted) turned out right. The wait
        runs from the failure before it again (with guesses in parallel, from the
        latest of those: a little longer, never shorter)."""
        for key in keys:
            found = self._failures.get(key)
            if found is not None:
                found.count, found.last = found.count - 1, found.before
                if found.count <= 0:
                    del self._failures[key]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One login: from where, for which account, and the device it comes from, if the
    browser carries a valid device cookie of this account (None: untrusted)."""

    address: str
    account: str  # the nickname, casefolded
    device: str | None = None


ADDRESS = Backoff(free=10, first=1.0, longest=900.0, forget=3600.0)
ACCOUNT = Backoff(free=5, first=1.0, longest=60.0, forget=3600.0)
DEVICE = Backoff(free=5, first=1.0, longest=300.0, forget=3600.0)


class LoginThrottle:
    """Which waits a login attempt is subject to, counted before the password is
    checked (so that guesses sent in parallel are all counted) and taken back if it
    is right."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        address: Backoff = ADDRESS,
        account: Backoff = ACCOUNT,
        device: Backoff = DEVICE,
    ) -> None:
        self.by_address = Throttle(address, clock)
        self.by_account = Throttle(account, clock)
        self.by_device = Throttle(device, clock)

    def _keys(self, attempt: Attempt) -> list[tuple[Throttle, list[str]]]:
        if attempt.device is not None:
            return [(self.by_device, [f"device:{attempt.device}"])]
        return [
            (self.by_address, [f"addr:{attempt.address}"]),
            (self.by_account, [f"name:{attempt.account}"]),
        ]

    def begin(self, attempt: Attempt) -> float:
        """0 if the attempt may go on (then it is counted as a failure until
        :meth:`succeeded`), else the seconds it must wait (nothing is counted)."""
        keys = self._keys(attempt)
        wait = max(throttle.retry_after(names) for throttle, names in keys)
        if wait > 0:
            return wait
        for throttle, names in keys:
            throttle.failed(names)
        return 0.0

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right. A device's failures were its own: forgotten. An
        untrusted attempt is only taken back: the account and the address keep the
        failures of others (the owner logging in from a new browser must not give an
        attacker fresh guesses, nor an attacker's own account wipe what its address
        guessed at others)."""
        if attempt.device is not None:
            self.by_device.succeeded([f"device:{attempt.device}"])
            return
        self.by_account.forgive_last([f"name:{attempt.account}"])
        self.by_address.forgive_last([f"addr:{attempt.address}"])
