"""Who is registered, with expiry by a clock passed in (pure, no I/O).

Gateways announce ``address -> epoch`` and repeat it as a heartbeat; one silent for
``timeout`` is dropped. Subscribers (workers, push clients) repeat their subscribe
the same way. A register that started less than one timeout ago may not have heard
every live gateway yet: its list is marked incomplete (see
:class:`common.protocol.GatewayList`).
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

    def __init__(self, timeout: float, now: float) -> None:
        self.timeout = timeout
        self.started = now
        self._gateways: dict[str, _Gateway] = {}
        self._subscribers: dict[bytes, float] = {}

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
        """Whether every live gateway has had time to announce itself to us."""
        return now - self.started >= self.timeout
