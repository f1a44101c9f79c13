"""Which gateways a worker or push client talks to: registers add, links remove.

Pure: no sockets, no event loop, the clock passed in. :class:`~business.cluster.Cluster`
feeds it the registers' lists and its links' ups and downs, and opens and closes
the links it names.

Registers' lists (:class:`common.frames.GatewayList`): a complete list replaces
what that register said before, an incomplete one (a register that just started or
was cut off) only adds. A gateway any register lists becomes a *member*: "all"
sends and queries go to every member. What removes a member is its own link, never
a register's list alone: a member goes when no register lists it *and* its link is
down (libzmq closed it: the gateway stopped, or has been unreachable for a link
timeout). A register that restarted, or came back from a network loss, and whose
list lacks gateways that are alive therefore cannot make us stop sending to them
(messages sent meanwhile would go nowhere); a gateway that really left is gone as
soon as its link and the registers agree.

A link opened on demand, for a client_id whose gateway no register lists, is not a
member ("all" calls skip it): it goes once its link has been down (or never up)
for ``timeout``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class LinkState:
    """What we know of one gateway link."""

    member: bool  # listed by a register at some point: "all" calls include it
    since: float  # when it was opened, or last went down
    up: bool = False  # the security handshake succeeded and libzmq has not closed it


@dataclass(slots=True)
class Changes:
    """What the caller must do: open links to ``add``, close the links in ``drop``."""

    add: list[str] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)


class GatewayView:
    """The registers' lists merged, and the state of every gateway link."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.links: dict[str, LinkState] = {}
        self._lists: dict[int, dict[str, int]] = {}
        self._complete: set[int] = set()  # registers that sent a complete list, ever
        # every "all" call reads these: kept, not recomputed per call
        self._listed: dict[str, int] = {}
        self._members: list[str] = []

    # -- registers ------------------------------------------------------------------
    def on_list(
        self, register: int, gateways: dict[str, int], complete: bool, now: float
    ) -> Changes:
        """A register's list (addresses already checked by the caller)."""
        if complete:
            self._lists[register] = dict(gateways)
            self._complete.add(register)
        else:
            self._lists[register] = {**self._lists.get(register, {}), **gateways}
        self._listed = listed = {}
        for listing in self._lists.values():
            listed.update(listing)
        changes = Changes()
        for address in listed:
            state = self.links.get(address)
            if state is None:
                self.links[address] = LinkState(member=True, since=now)
                changes.add.append(address)
            else:
                state.member = True
        changes.drop = self.tick(now)
        self._changed()
        return changes

    @property
    def answered(self) -> bool:
        """Some register has sent a list."""
        return bool(self._lists)

    @property
    def complete(self) -> bool:
        """Some register has sent a complete list: our members are every gateway."""
        return bool(self._complete)

    def gone(self, address: str) -> bool:
        """Whether ``address`` is no gateway of ours now: some register's list is
        complete and none lists it, and no link to it is kept (a member stays while its
        link lives, whatever a restarted register says)."""
        return self.complete and address not in self.links

    def listed(self) -> dict[str, int]:
        """Every gateway some register lists now: internal address -> epoch (read only)."""
        return self._listed

    def members(self) -> list[str]:
        """Where "all" calls go (read only)."""
        return self._members

    def _changed(self) -> None:
        self._members = [address for address, state in self.links.items() if state.member]

    # -- links ----------------------------------------------------------------------
    def opened(self, address: str, now: float) -> None:
        """A link opened on demand (not for a list): a member only if listed."""
        if address not in self.links:
            self.links[address] = LinkState(member=address in self._listed, since=now)
            self._changed()

    def link_up(self, address: str) -> None:
        state = self.links.get(address)
        if state is not None:
            state.up = True

    def link_down(self, address: str, now: float) -> list[str]:
        """libzmq closed the link; return the links to close now (this one, or none)."""
        state = self.links.get(address)
        if state is None:
            return []
        if state.up:
            state.up, state.since = False, now
        return self.tick(now)

    def tick(self, now: float) -> list[str]:
        """Forget (and return) the links that should go; call every heartbeat."""
        drop = [
            address
            for address, state in self.links.items()
            if address not in self._listed
            and not state.up
            and (state.member or now - state.since > self.timeout)
        ]
        for address in drop:
            del self.links[address]
        if drop:
            self._changed()
        return drop
