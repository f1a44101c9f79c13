"""pyzmq helpers shared by every role: sockets, batched sends, monitors.

Security: with a secret, every socket a :class:`Transport` makes uses ZeroMQ's CURVE
mechanism (keys and the ZAP check in :mod:`common.security`). Liveness: its libzmq
heartbeats and reconnects follow :class:`~common.config.Timing`.
:func:`common.monitor.watch` reports a socket's links and logs refused peers.

Batching: :class:`Outbox` collects the frames queued for each peer during one pass
of the event loop and sends them as one multipart message, without awaiting per
frame; :func:`drain` reads every message already queued after the first one.
:class:`Channel` does both for the hot links straight from the loop's callback for
the socket's descriptor, with no future or task per wake-up.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import zmq
import zmq.asyncio
from zmq.auth.asyncio import AsyncioAuthenticator

from .config import Security, Timing
from .security import ZAP_DOMAIN, Credentials, Keys

__all__ = ["Channel", "Outbox", "Transport", "describe", "drain", "joined", "message"]

log = logging.getLogger(__name__)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class Transport:
    """One ZeroMQ context per process, with the security and liveness settings
    (:class:`~common.config.Timing`: libzmq's heartbeats, reconnects and connect
    timeout) applied to every socket it makes."""

    def __init__(self, security: Security, timing: Timing | None = None) -> None:
        self.context = zmq.asyncio.Context()
        self.security = security
        self.timing = timing or Timing()
        self._keys = Keys(security.secret) if security.secret else None
        self._auth: AsyncioAuthenticator | None = None

    def socket(self, kind: int, *, server: bool) -> zmq.asyncio.Socket:
        """A socket with sane options; ``server`` for the side that binds."""
        sock = self.context.socket(kind)
        timing = self.timing
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 1_000_000)
        sock.setsockopt(zmq.RCVHWM, 1_000_000)
        sock.setsockopt(zmq.HEARTBEAT_IVL, _ms(timing.ping_interval))
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, _ms(timing.link_timeout - timing.ping_interval))
        sock.setsockopt(zmq.HEARTBEAT_TTL, _ms(timing.link_timeout))
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, _ms(timing.reconnect_max))
        sock.setsockopt(zmq.CONNECT_TIMEOUT, _ms(timing.link_timeout))
        if self._keys is not None:
            if server:
                self._start_auth()
                sock.curve_server = True
                sock.curve_secretkey = self._keys.server_secret
                sock.zap_domain = ZAP_DOMAIN.encode()
            else:
                sock.curve_serverkey = self._keys.server_public
                sock.curve_publickey = self._keys.client_public
                sock.curve_secretkey = self._keys.client_secret
        return sock

    def _start_auth(self) -> None:
        if self._auth is None and self._keys is not None:
            self._auth = AsyncioAuthenticator(self.context, log=log)
            self._auth.start()
            self._auth.configure_curve_callback(ZAP_DOMAIN, Credentials(self._keys))

    def close(self, linger: float = 0.0) -> None:
        """Stop the authenticator and destroy the context (idempotent).

        ``linger``: seconds that frames still queued may take to leave.
        """
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if not self.context.closed:
            self.context.destroy(linger=int(linger * 1000))


def joined(frames: list[bytes]) -> bytes:
    """Every frame of one batch in one part (no copy for a single frame)."""
    return frames[0] if len(frames) == 1 else b"".join(frames)


def message(to: bytes | None, frames: list[bytes]) -> list[bytes]:
    """The parts of one batch: the ROUTER identity if any, then every frame in one part."""
    return [joined(frames)] if to is None else [to, joined(frames)]


class Outbox:
    """Batches frames per destination and sends each batch as one multipart message.

    For a ROUTER socket the destination is the peer's identity; for a DEALER it is
    ``None``. ``on_unreachable(identity)`` is called when a ROUTER (with
    ROUTER_MANDATORY) finds that peer gone: the caller's cue that it died.

    Sends go through pyzmq's asyncio socket without being awaited: it sends at once
    when it can (and re-arms any pending receive, which a send on a shadow socket
    would not: ZeroMQ's file descriptor is edge-triggered), and otherwise queues the
    batch behind earlier ones, in order, until the high-water mark clears.
    """

    def __init__(
        self,
        sock: zmq.asyncio.Socket,
        on_unreachable: Callable[[bytes], None] | None = None,
    ) -> None:
        self._sock = sock
        self._on_unreachable = on_unreachable
        self._pending: dict[bytes | None, list[bytes]] = {}
        self._scheduled = False
        self.sent_messages = 0

    def send(self, frame: bytes, to: bytes | None = None) -> None:
        """Queue one encoded frame; it leaves at the end of this loop pass."""
        frames = self._pending.get(to)
        if frames is None:
            self._pending[to] = frames = []
        frames.append(frame)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Send everything queued now (also called by the loop)."""
        self._scheduled = False
        pending, self._pending = self._pending, {}
        for to, frames in pending.items():
            if self._sock.closed:
                return
            future = cast("asyncio.Future[Any]", self._sock.send_multipart(message(to, frames)))
            self.sent_messages += 1
            if future.done():
                self._sent(to, future)
            else:
                future.add_done_callback(functools.partial(self._sent, to))

    def _sent(self, to: bytes | None, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if isinstance(exc, zmq.ZMQError):
            self._failed(to, exc)
        elif exc is not None:
            log.warning("internal send failed: %s", exc)

    def _failed(self, to: bytes | None, exc: zmq.ZMQError) -> None:
        """A refused send: a ROUTER's peer gone (EHOSTUNREACH), or worth a log line."""
        if exc.errno == zmq.EHOSTUNREACH:
            if to is not None and self._on_unreachable is not None:
                self._on_unreachable(to)
        elif exc.errno != zmq.ENOTSOCK:
            log.warning("internal send failed: %s", exc)


# pyzmq's Cython methods, called on our sockets directly: the Python layer over them
# (send_multipart, recv_multipart, get) costs about a microsecond per call.
_SEND: Any = zmq.backend.Socket.send
_RECV: Any = zmq.backend.Socket.recv
_GET: Any = zmq.backend.Socket.get
_NOBLOCK, _SNDMORE = zmq.NOBLOCK, zmq.SNDMORE
_EVENTS, _RCVMORE, _POLLIN, _POLLOUT = zmq.EVENTS, zmq.RCVMORE, zmq.POLLIN, zmq.POLLOUT


class Channel(Outbox):
    """A socket driven from the event loop's reader callback: no future, no task.

    For the hot links (a gateway's ROUTER, a worker's links to gateways). Messages go
    to ``on_message(parts)`` straight from the loop's callback for ZeroMQ's file
    descriptor; sends are batched as in :class:`Outbox` and made without blocking.

    ZeroMQ's descriptor is edge-triggered and signals any change of ``EVENTS``; any
    operation on the socket may consume that edge. So every wake-up receives until
    ZeroMQ says ``EAGAIN`` (which re-arms the descriptor), and every flush checks
    ``EVENTS`` afterwards and schedules a wake-up itself if messages are waiting.
    Sends refused by the high-water mark wait, in order and per peer, for ``POLLOUT``.
    The pyzmq asyncio socket passed in is never used to send or receive (its own
    poller would take the descriptor); only to close it and to monitor it.
    """

    BATCH = 512  # messages handled per wake-up before letting other callbacks run

    def __init__(
        self,
        sock: zmq.asyncio.Socket,
        on_message: Callable[[list[bytes]], None],
        on_unreachable: Callable[[bytes], None] | None = None,
        on_batch: tuple[Callable[[], None], Callable[[], None]] | None = None,
    ) -> None:
        super().__init__(sock, on_unreachable)
        self._raw: zmq.Socket[bytes] = zmq.Socket.shadow(sock.underlying)
        self._on_message = on_message
        # (before, after) each wake-up's batch of messages: the owner's chance to write
        # what the batch made at its end, without a loop callback of its own
        self._on_batch = on_batch
        # sends refused by the high-water mark, per destination (one slow peer must
        # not hold up the others), each in order
        self._held: dict[bytes | None, collections.deque[bytes]] = {}
        self._loop = asyncio.get_running_loop()
        self._fd: int = self._raw.get(zmq.FD)  # type: ignore[assignment]
        self._wake_scheduled = False
        self._closed = False
        self._loop.add_reader(self._fd, self._ready)
        self._wake()  # anything that arrived before we watched

    def close(self) -> None:
        """Stop watching the socket (call before the socket or its context closes)."""
        if self._closed:
            return
        if self._held and not self._sock.closed:
            self._release_held()  # a last try; what the mark still refuses is lost
            lost = sum(len(waiting) for waiting in self._held.values())
            if lost:
                log.warning("closing a link with %d batches its peers never took", lost)
        self._closed = True
        self._loop.remove_reader(self._fd)

    def flush(self) -> None:
        self._scheduled = False
        if self._closed or self._sock.closed:
            self._pending = {}
            return
        pending, self._pending = self._pending, {}
        for to, frames in pending.items():
            self._send(to, joined(frames))
        self._wake()

    def _send(self, to: bytes | None, data: bytes) -> None:
        """Send one batch (the identity first, for a ROUTER): all of it, or none."""
        waiting = self._held.get(to)
        if waiting is not None:
            waiting.append(data)
            return
        try:
            if to is not None:  # refused here, if at all: the message is not started
                _SEND(self._raw, to, _NOBLOCK | _SNDMORE)
            _SEND(self._raw, data, _NOBLOCK)
        except zmq.Again:  # high-water mark: wait for POLLOUT
            self._held[to] = collections.deque([data])
            return
        except zmq.ZMQError as exc:
            self._failed(to, exc)
            return
        self.sent_messages += 1

    def read_soon(self) -> bool:
        """Whether a message waits to be read; if one does, it is read in a callback
        that runs before any scheduled after this call."""
        if self._closed or not _GET(self._raw, zmq.EVENTS) & zmq.POLLIN:
            return False
        if not self._wake_scheduled:
            self._wake_scheduled = True
            self._loop.call_soon(self._ready)
        return True

    def _wake(self) -> None:
        """Schedule a wake-up if ZeroMQ has something for us (its edge may be gone)."""
        if self._wake_scheduled or self._closed:
            return
        events: int = _GET(self._raw, zmq.EVENTS)
        if events & zmq.POLLIN or (self._held and events & zmq.POLLOUT):
            self._wake_scheduled = True
            self._loop.call_soon(self._ready)

    def _ready(self) -> None:
        """Take what arrived, then send what it made, all in this one callback.

        Sends made while the batch is handled are not scheduled (no loop callback, no
        handle): the batch's end sends them. After the first message, ``EVENTS`` says
        whether another waits: at a moderate rate a wake-up brings one or two, and a
        receive that finds nothing raises (3 us) where asking costs 1.4 us.
        """
        self._wake_scheduled = False
        if self._closed or self._sock.closed:
            return
        raw, handle = self._raw, self._on_message
        scheduled, self._scheduled = self._scheduled, True  # the batch's end sends
        if self._on_batch is not None:
            self._on_batch[0]()
        more = False
        for n in range(self.BATCH):
            if n == 1 and not _GET(raw, _EVENTS) & _POLLIN:
                break  # nothing more (and reading EVENTS re-armed the descriptor)
            try:
                parts = [_RECV(raw, _NOBLOCK)]
                while _GET(raw, _RCVMORE):
                    parts.append(_RECV(raw, _NOBLOCK))
            except zmq.Again:  # all read, and the descriptor is armed again
                break
            try:
                handle(parts)
            except Exception:  # one bad message must not stop the link
                log.exception("failed to handle a message")
            if self._closed:  # the handler closed us: the batch still ends
                if self._on_batch is not None:
                    self._on_batch[1]()
                return
        else:
            more = True
        if self._on_batch is not None:
            self._on_batch[1]()
        if self._pending:
            self.flush()  # (it also looks at EVENTS, and schedules a wake-up if needed)
        else:
            self._scheduled = scheduled
        if more:
            self._wake_scheduled = True  # more waiting: after other callbacks had a turn
            self._loop.call_soon(self._ready)
            return
        if self._held and _GET(raw, _EVENTS) & _POLLOUT:
            self._release_held()
            self._wake()  # those sends may have consumed the edge

    def _release_held(self) -> None:
        for to, waiting in list(self._held.items()):
            del self._held[to]
            while waiting:
                self._send(to, waiting.popleft())
                if to in self._held:  # blocked again: the rest stays behind, in order
                    self._held[to].extend(waiting)
                    break


async def drain(sock: zmq.asyncio.Socket) -> AsyncIterator[list[bytes]]:
    """Yield messages: await the first, then take every one already queued."""
    shadow: zmq.Socket[bytes] = zmq.Socket.shadow(sock.underlying)
    while True:
        yield await sock.recv_multipart()
        # ask, rather than try and catch zmq.Again: an exception costs more than
        # reading EVENTS, and this runs once per wake-up
        while shadow.get(zmq.EVENTS) & zmq.POLLIN:  # type: ignore[operator,arg-type]
            yield shadow.recv_multipart(zmq.NOBLOCK)


def describe(value: Any) -> str:
    """Short repr for logs."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
