"""The transport side of a client connection: bounded writes, paused reads, deadlines.

:class:`Stream` is the part of :class:`~gateway.connection.Connection` that deals with
the TCP transport rather than with WebSocket frames:

- **every byte written counts**: messages (:meth:`Stream.write_frames`: the frames the
  fan-out made once, or a compressed connection's own), pongs, close frames; once the
  transport buffers more than ``limit`` bytes (``--max-send-buffer``) the client
  reads too slowly and is dropped, whatever filled the buffer;
- **reading is paused for two reasons**, each lifted on its own: the handler's (a
  client whose events back up at its worker) and the writes' (past the transport's
  high-water mark we stop reading a client that does not read: it cannot make us
  queue ever more replies, the pongs of a ping flood say);
- **deadlines**: the open deadline (``OPEN_TIMEOUT``), then after a close or a refusal
  the peer has ``CLOSE_TIMEOUT`` to end the TCP connection before it is aborted.

Every byte in and out is counted in the gateway's :class:`Traffic`, which each
connection is given (one per gateway, read by its metrics); why we dropped a client
is a :class:`Drop`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from websockets.protocol import State
from websockets.server import ServerProtocol

from common.logs import Throttled

log = logging.getLogger("gateway.connection")
throttled = Throttled(log)


class Traffic:
    """Bytes in and out of every client connection of one gateway (for its metrics)."""

    __slots__ = ("bytes_in", "bytes_out")

    def __init__(self) -> None:
        self.bytes_in = 0
        self.bytes_out = 0


class Drop(enum.Enum):
    """Why the gateway ended a client's connection itself (counted and logged by kind)."""

    SLOW = "slow"  # its write buffer passed --max-send-buffer: it reads too slowly
    RATE_LIMIT = "rate limit"  # over --rate-limit: closed 1008
    CONTROL_FLOOD = "control frames"  # pings or foreign pongs past their budget: 1008
    FRAGMENTS = "fragments"  # a message in more than MAX_FRAGMENTS frames: 1009


OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 10.0
PAUSED_BY_HANDLER, PAUSED_BY_WRITES = 1, 2
OPEN = State.OPEN


class PassBudget:
    """At most ``limit`` units of a costly work per event-loop pass; the rest waits for
    later passes, in order.

    The work is upgrade requests: a reconnect storm puts thousands of connections in a
    gateway's accept queue, which the loop takes in one pass, and their requests then
    arrive together; answering them back to back (about 0.3 ms each) held the loop for
    seconds, and with it every client already there. Paced, the storm takes as long,
    and each pass stays short. What waits is queued, first come first served, and one
    callback a pass serves the queue (not one per waiting connection each pass: n
    held requests would cost n²/limit callbacks).
    """

    __slots__ = ("limit", "used", "waiting")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.waiting: deque[Callable[[], None]] = deque()

    def run(self, work: Callable[[], None], first: bool = False) -> None:
        """``work()`` now if this pass has budget left and nothing waits; else in a later
        pass, after what waits already (``first``: before it: the rest of a request
        whose start was served, which must not wait for the whole storm again)."""
        if not self.waiting:
            if self.used == 0:  # the first of this pass: the budget is whole again next
                asyncio.get_running_loop().call_soon(self._next_pass)
            if self.used < self.limit:
                self.used += 1
                work()
                return
        if first:
            self.waiting.appendleft(work)
        else:
            self.waiting.append(work)

    def _next_pass(self) -> None:
        """First thing in a pass: the budget whole again, spent on what waits, in order."""
        self.used = 0
        waiting = self.waiting
        if waiting:
            asyncio.get_running_loop().call_soon(self._next_pass)  # (this pass counts)
        while waiting and self.used < self.limit:
            self.used += 1
            work = waiting.popleft()
            try:
                work()
            except Exception:  # one connection's bug: not the others' wait
                throttled.exception("paced", "a paced upgrade request failed")


class Stream(asyncio.Protocol):
    """A client's TCP transport, as the WebSocket connection uses it."""

    __slots__ = ("dropped", "limit", "paused", "peer", "protocol", "timer", "traffic", "transport")

    def __init__(self, protocol: ServerProtocol, limit: int, traffic: Traffic) -> None:
        self.protocol = protocol
        self.limit = limit  # bytes the transport may buffer for this client (all of them)
        self.traffic = traffic  # the gateway's byte counts, shared by its connections
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None  # open or close deadline
        self.peer: tuple[str, int] = ("", 0)
        self.dropped: Drop | None = None  # why we ended it, if we did for a reason
        self.paused = 0  # why reading is paused: PAUSED_BY_HANDLER | PAUSED_BY_WRITES

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transport is not an asyncio.Transport subclass
        self.transport = transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = (str(peer[0]), int(peer[1]))
        self.timer = asyncio.get_running_loop().call_later(OPEN_TIMEOUT, self._timed_out)

    def pause_writing(self) -> None:
        """The transport buffers more than its high-water mark: the client reads slowly.

        Stop reading it too, so that it cannot make us queue ever more replies
        (pongs of a ping flood) while it reads nothing.
        """
        self._pause(PAUSED_BY_WRITES)

    def resume_writing(self) -> None:
        self._resume(PAUSED_BY_WRITES)

    def _check_buffer(self) -> None:
        """Whatever was written (messages, pongs, close frames), the client's buffer is
        bounded by ``limit``: past it the client is dropped."""
        transport = self.transport
        if transport is not None and transport.get_write_buffer_size() > self.limit:
            if self.dropped is None:
                self.dropped = Drop.SLOW
            transport.abort()

    def send_data(self) -> None:
        """Write what the protocol has to send; its end of stream half-closes TCP."""
        transport = self.transport
        assert transport is not None
        wrote = False
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
                self.traffic.bytes_out += len(data)
                wrote = True
            elif transport.can_write_eof():
                try:
                    transport.write_eof()
                except (OSError, RuntimeError):  # closing already (uvloop: RuntimeError)
                    transport.abort()
            else:
                transport.close()
        if wrote:
            self._check_buffer()

    def write_frames(self, items: list[Any]) -> int:
        """Write queued messages; return the bytes the transport still buffers.

        Items are frames already serialized (bytes, shared by every connection without
        an extension) or, for a compressed connection, ``(payload, text)`` pairs that
        its protocol frames. Nothing is written unless the connection is open.
        """
        transport = self.transport
        if self.protocol.state is not OPEN or transport is None:
            return 0
        if self.protocol.extensions:
            for payload, text in items:
                self.send_message(payload, text)
        else:
            data = items[0] if len(items) == 1 else b"".join(items)
            transport.write(data)
            self.traffic.bytes_out += len(data)
            self._check_buffer()
        return transport.get_write_buffer_size()

    def send_message(self, payload: bytes, text: bool) -> None:
        """Frame one message through the protocol (compression keeps state per connection).

        ``payload`` is already encoded (UTF-8 for a text message): a message sent to
        many connections is encoded once.
        """
        if self.protocol.state is not OPEN:
            return
        if text:
            self.protocol.send_text(payload)
        else:
            self.protocol.send_binary(payload)
        self.send_data()

    def abort(self) -> None:
        """Drop the TCP connection now: no flush, no closing handshake."""
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self) -> None:
        """Stop reading the client (TCP backpressure) until :meth:`resume_reading`."""
        self._pause(PAUSED_BY_HANDLER)

    def resume_reading(self) -> None:
        """Read the client again (unless its writes still hold it: see pause_writing)."""
        self._resume(PAUSED_BY_HANDLER)

    def _pause(self, why: int) -> None:
        if not self.paused and self.transport is not None:
            self.transport.pause_reading()
        self.paused |= why

    def _resume(self, why: int) -> None:
        self.paused &= ~why
        transport = self.transport
        # a closing transport is read anyway (its end must be read)
        if not self.paused and transport is not None and not transport.is_closing():
            transport.resume_reading()

    def _read_the_end(self) -> None:
        """Read on to the peer's close frame, unless we paused the peer for a reason
        (a full backlog, a full write buffer): reading it then would queue without
        bound; the close deadline ends it instead."""
        if not self.paused and self.transport is not None:
            self.transport.resume_reading()

    def arm_close_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self._timed_out)

    def _timed_out(self) -> None:
        self.timer = None
        if self.protocol.state is OPEN:  # the timer was the open deadline: now open
            return
        throttled.info(
            "timeout",
            "connection from %s:%d timed out (%s): aborting",
            *self.peer,
            self.protocol.state.name.lower(),
        )
        self.abort()

    @property
    def close_code(self) -> int | None:
        return self.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        return self.protocol.close_reason
