"""What a ZeroMQ socket's monitor says: links made and lost, and peers refused.

:func:`watch` hands a socket's events to a callback and logs every failed security
handshake, rate-limited (:class:`~common.logs.Throttled`: a peer retrying forever,
or a port scan, cannot flood the log), by the side that refused the peer, with the
peer's address where it is known, and named for what it is (:func:`failed_handshake`): a
peer whose ``--secret`` differs is not a TCP probe.

What each side sees (libzmq 4.3, CURVE on the bound side)::

    peer                     bound side (refuses)              connecting side
    another --secret         PROTOCOL ZMTP_CRYPTOGRAPHIC       NO_DETAIL (closed on it)
    no --secret              NO_DETAIL (the peer hung up)      PROTOCOL MECHANISM_MISMATCH
    a TCP probe, a scanner   NO_DETAIL, or nothing at all      -
    a CURVE key ZAP refuses  AUTH (ZAP status)                 AUTH

The peer of a *bound* socket (its caller says so: ``watch(..., bound=True)``):
libzmq's events name the listening endpoint, not the peer (the versioned monitor that
has both is a draft API). The event of an accepted connection carries its
descriptor, so :class:`AcceptedPeers` looks the peer up as soon as that event is
read; the connection's DISCONNECTED event is queued before libzmq closes the
descriptor, so a lookup is trusted only if no DISCONNECTED of that descriptor was
queued by the time it returned (the number may be reused).
A failure that outran the lookup is logged without an address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from .logs import Throttled

log = logging.getLogger(__name__)

HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
REFUSAL_LOG_INTERVAL = 10.0  # seconds between two log lines of one kind of refusal

_PROTOCOL_ERRORS = {
    getattr(zmq, name): name.removeprefix("PROTOCOL_ERROR_")
    for name in dir(zmq)
    if name.startswith("PROTOCOL_ERROR_")
}


def unwatch(sock: Any) -> None:
    """Stop ``sock``'s monitor: call before closing a watched socket.

    libzmq sends monitor events with a blocking send from its I/O thread: a socket
    closed with a linger, still reconnecting, whose monitor's reader is gone,
    would block that thread (every socket of the process) at its next event.
    """
    with contextlib.suppress(zmq.ZMQError):
        sock.disable_monitor()


@dataclass(frozen=True, slots=True)
class FailedHandshake:
    """A failed security handshake, as one side saw it."""

    kind: str  # secret, mechanism, key, protocol, hangup
    bound: bool  # True: we refused a peer; False: a peer refused us
    peer: str | None  # the peer's address, where known
    reason: str  # what it most likely means, for a log line

    @property
    def level(self) -> int:
        """A hang-up during the handshake is usually a probe: not worth a warning."""
        return logging.INFO if self.bound and self.kind == "hangup" else logging.WARNING

    def describe(self) -> str:
        where = self.peer or "an unknown address"
        if self.bound and self.kind == "hangup":  # not a refusal of ours, and no peer of ours
            return f"internal connection from {where} {self.reason}"
        if self.bound:
            return f"refused an internal peer at {where}: {self.reason}"
        return f"internal peer {where} refused us: {self.reason}"


def failed_handshake(event: int, value: int, bound: bool, peer: str | None) -> FailedHandshake:
    """Name a failed handshake (``event``, libzmq's ``value``) from one side's view."""

    def failed(kind: str, reason: str) -> FailedHandshake:
        return FailedHandshake(kind, bound, peer, reason)

    if event & zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return failed("key", f"its CURVE key is not derived from the --secret (ZAP status {value})")
    if event & zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if value == zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
            return failed("secret", "its --secret differs from ours")
        if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            return failed("mechanism", "one side has --secret and the other none")
        name = _PROTOCOL_ERRORS.get(value, hex(value))
        return failed("protocol", f"broken handshake ({name}): not a gw process")
    if bound:
        return failed(
            "hangup",
            "hung up during the security handshake (a port probe, or a peer that refused "
            "us: see its log)",
        )
    return failed(
        "hangup",
        "it closed the connection during the security handshake: most likely its --secret "
        "differs from ours (or it is not a gw register or gateway)",
    )


def peer_of_fd(fd: int) -> str | None:
    """``ip:port`` of the TCP peer on descriptor ``fd``; None if it is gone."""
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            host, port = sock.getpeername()[:2]
    except (OSError, ValueError):
        return None
    return f"{host}:{port}"


class AcceptedPeers:
    """The peer of each open connection of a bound socket, by descriptor, where known.

    Fed the monitor's events in order (:meth:`feed`); :meth:`lookup` is called
    between reading one batch and the next (see the module docstring).
    """

    def __init__(self, resolve: Callable[[int], str | None] = peer_of_fd) -> None:
        self._resolve = resolve
        self._open: dict[int, str | None] = {}  # None: not looked up yet; "": unknown

    def feed(self, event: int, value: int) -> str | None:
        """Note one event; for a DISCONNECTED, return the peer it closed (if known)."""
        if event == zmq.EVENT_ACCEPTED:
            self._open[value] = None
        elif event == zmq.EVENT_DISCONNECTED:
            return self._open.pop(value, None) or None
        return None

    def unnamed(self) -> list[int]:
        """Descriptors of connections accepted since the last lookup."""
        return [fd for fd, peer in self._open.items() if peer is None]

    def lookup(self, fds: Iterable[int]) -> dict[int, str | None]:
        return {fd: self._resolve(fd) for fd in fds}

    def name(self, found: dict[int, str | None], closed_since: set[int]) -> None:
        """Keep the lookups that no DISCONNECTED queued meanwhile made doubtful."""
        for fd, peer in found.items():
            if fd in self._open:
                self._open[fd] = "" if fd in closed_since else peer or ""

    def __len__(self) -> int:
        return len(self._open)


Callback = Callable[[int, str], None]


class _Monitor:
    """One socket's monitor: events to the callback, refusals to the log."""

    def __init__(
        self,
        bound: bool,
        events: int,
        callback: Callback,
        on_refusal: Callable[[FailedHandshake], None] | None,
    ) -> None:
        self.bound = bound
        self.events = events | HANDSHAKE_FAILED
        self.callback = callback
        self.on_refusal = on_refusal
        self.peers = AcceptedPeers()
        self.failed: tuple[int, int] | None = None  # a refusal awaiting its DISCONNECTED
        self.log = Throttled(log, REFUSAL_LOG_INTERVAL)

    def handle(self, message: Mapping[str, Any]) -> None:
        event, value = message["event"], message["value"]
        endpoint = message["endpoint"].decode(errors="replace")
        closed = self.peers.feed(event, value) if self.bound else None
        if event & HANDSHAKE_FAILED:
            if self.bound:  # its connection's DISCONNECTED follows: it names the descriptor
                self.failed = (event, value)
            else:
                self._refused(
                    failed_handshake(event, value, False, endpoint.removeprefix("tcp://"))
                )
        elif event == zmq.EVENT_DISCONNECTED and self.failed is not None:
            (failed_event, failed_value), self.failed = self.failed, None
            self._refused(failed_handshake(failed_event, failed_value, True, closed))
        if event & self.events:
            self.callback(event, endpoint)

    def _refused(self, refused: FailedHandshake) -> None:
        self.log.log(refused.level, f"{refused.kind}:{refused.bound}", "%s", refused.describe())
        if self.on_refusal is not None:
            self.on_refusal(refused)


def _queued(shadow: zmq.Socket[bytes]) -> list[Mapping[str, Any]]:
    """Every monitor message already queued, parsed, without waiting."""
    found: list[Mapping[str, Any]] = []
    while shadow.get(zmq.EVENTS) & zmq.POLLIN:  # type: ignore[operator,arg-type]
        found.append(parse_monitor_message(shadow.recv_multipart(zmq.NOBLOCK)))
    return found


def watch(
    sock: zmq.asyncio.Socket,
    events: int,
    callback: Callback,
    on_refusal: Callable[[FailedHandshake], None] | None = None,
    *,
    bound: bool = False,
) -> Coroutine[Any, Any, None]:
    """Call ``callback(event, endpoint)`` for ``events`` and failed handshakes, until
    cancelled; log each refused peer (rate-limited) and pass it to ``on_refusal``.

    ``bound``: the socket binds (it accepts peers): the peer of each refusal is then
    looked up (see the module docstring). The monitor is attached here, at the call,
    and the returned coroutine reads it: call before ``connect()`` so that no event
    is missed, then await or spawn it.
    """
    wanted = events | HANDSHAKE_FAILED
    if bound:
        wanted |= zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED
    monitor = sock.get_monitor_socket(wanted)
    return _read(sock, monitor, _Monitor(bound, events, callback, on_refusal))


async def _read(sock: zmq.asyncio.Socket, monitor: zmq.asyncio.Socket, state: _Monitor) -> None:
    shadow: zmq.Socket[bytes] = zmq.Socket.shadow(monitor.underlying)
    try:
        while True:
            batch = [parse_monitor_message(await monitor.recv_multipart()), *_queued(shadow)]
            for message in batch:
                state.handle(message)
            if state.bound and (unnamed := state.peers.unnamed()):
                found = state.peers.lookup(unnamed)
                later = _queued(shadow)  # queued while we looked: their DISCONNECTEDs
                closed = {m["value"] for m in later if m["event"] == zmq.EVENT_DISCONNECTED}
                state.peers.name(found, closed)
                for message in later:
                    state.handle(message)
    except (asyncio.CancelledError, zmq.ZMQError):
        pass
    finally:
        unwatch(sock)
        monitor.close(linger=0)
