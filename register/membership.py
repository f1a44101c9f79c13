"""Who is registered, with expiry by a clock passed in (pure, no I/O).

Gateways announce ``address -> epoch`` and repeat it as a heartbeat; one silent for
``timeout`` is dropped. Subscribers (workers, push clients) repeat their subscribe
the same way.

Completeness: a register may not have heard every live gateway yet, and then says
so (:class:`common.frames.GatewayList` ``complete`` false: subscribers only add).
That is the case for ``settle`` seconds after it started, and again after it heard
from *nobody* for longer than ``quiet``: such a silence means the register was cut
off (its host lost the network, or the process was frozen), not that every peer
died at once, and meanwhile it may have expired gateways that are alive. It is
complete again once the gateways had ``settle`` seconds to reconnect and announce
(see :attr:`common.config.Timing.settle`). A register restarted, or back from a
network loss, therefore never claims that the cluster is empty while gateways serve.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Gateway:
    epoch: int
    public: str
    seen: float


class Membership:
    """The register's state. Every mutator returns whether the gateway list changed."""

    def __init__(
        self, timeout: float, now: float, settle: float | None = None, quiet: float | None = None
    ) -> None:
        self.timeout = timeout
        self.settle = timeout if settle is None else settle
        self.quiet = quiet  # None: never consider ourselves cut off
        self.settling_since = now
        self.last_heard = now
        self.heard_anyone = False
        self._gateways: dict[str, _Gateway] = {}
        self._subscribers: dict[bytes, float] = {}

    def heard(self, now: float) -> bool:
        """Anyone's frame arrived; True if it ends a silence longer than ``quiet``
        after earlier frames: we were cut off, and the list must settle again.

        (A first frame late after our start is no such sign: ``settle``, counted from
        the start, already gives every gateway time to reconnect.)
        """
        cut_off = (
            self.heard_anyone and self.quiet is not None and now - self.last_heard > self.quiet
        )
        if cut_off:
            self.settling_since = now
        self.heard_anyone = True
        self.last_heard = max(self.last_heard, now)
        return cut_off

    def announce(self, address: str, public: str, epoch: int, now: float) -> bool:
        """A gateway's heartbeat; True if it is new or restarted (new epoch)."""
        known = self._gateways.get(address)
        self._gateways[address] = _Gateway(epoch, public, now)
        return known is None or known.epoch != epoch

    def goodbye(self, address: str) -> bool:
        """A gateway leaving; True if it was known."""
        return self._gateways.pop(address, None) is not None

    def subscribe(self, identity: bytes, now: float) -> bool:
        """A subscriber's heartbeat; True if it is new (it needs the list now)."""
        new = identity not in self._subscribers
        self._subscribers[identity] = now
        return new

    def expire(self, now: float) -> bool:
        """Drop silent gateways and subscribers; True if a gateway was dropped."""
        deadline = now - self.timeout
        stale = [a for a, g in self._gateways.items() if g.seen < deadline]
        for address in stale:
            del self._gateways[address]
        for identity in [i for i, seen in self._subscribers.items() if seen < deadline]:
            del self._subscribers[identity]
        return bool(stale)

    def gateways(self) -> dict[str, int]:
        """Internal address -> epoch of every live gateway."""
        return {address: g.epoch for address, g in self._gateways.items()}

    def public_addresses(self) -> dict[str, str]:
        """Internal address -> public WebSocket address."""
        return {address: g.public for address, g in self._gateways.items()}

    def subscribers(self) -> list[bytes]:
        return list(self._subscribers)

    def complete(self, now: float) -> bool:
        """Whether every live gateway has had time to announce itself to us: we hear
        from peers, and have for ``settle`` seconds."""
        if self.quiet is not None and now - self.last_heard > self.quiet:
            return False
        return now - self.settling_since >= self.settle
