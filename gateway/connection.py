"""The gateway's WebSocket connection: an ``asyncio.Protocol`` around websockets' Sans-I/O core.

websockets' ``ServerProtocol`` does the protocol work (HTTP upgrade, framing, masking,
control frames, close handshake, ``max_size``, permessage-deflate); this module is the
thin I/O shell around it, made for a gateway holding tens of thousands of mostly idle
connections:

- no task, future, queue or assembler per connection: a complete message is handed to
  the handler from ``data_received``, a close is written at once;
- ``__slots__``, and the handshake request and response are dropped once open;
- keepalive is one sweep over every connection (see :mod:`gateway.keepalive`):
  :meth:`Connection.ping_now` sends a ping, a pong carrying our prefix answers it.

websockets logs every connection opened or refused at INFO on :data:`PROTOCOL_LOGGER`:
too chatty for a gateway with 10,000 clients, so ``gw gateway`` sets that logger to
WARNING (its warnings and errors still show). This module configures no logging.

The seam with the rest of the gateway goes both ways through public names only: a
connection reports to its :class:`ConnectionHandler` (made, request, message, lost),
and the handler acts through the connection's verbs (:meth:`~Connection.accept`,
:meth:`~Connection.reject`, :meth:`~Connection.write_frames`, :meth:`~Connection.close`,
:meth:`~Connection.fail`, pause and resume reading...). A connection carries the
handler's record of it (``client``, typed by the handler: ``Connection[Client]``) and
never reads it. This module imports nothing of the gateway's but the transport side.

Timeouts follow websockets' asyncio server: a request must arrive within
``OPEN_TIMEOUT``; once a close is sent (or the handshake failed), the peer has
``CLOSE_TIMEOUT`` to close the TCP connection before it is aborted. The transport's
side (bounded writes, paused reads, deadlines) is :class:`~gateway.stream.Stream`'s.
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import Iterable
from typing import Any, Generic, Protocol, TypeVar

from websockets.extensions.permessage_deflate import enable_server_permessage_deflate
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from common.limits import TokenBucket

from . import parsing
from .parsing import PING_FRAME, PING_PREFIX, POLITE_PONG_SIZE, between_frames, is_our_pong
from .stream import Drop, PassBudget, Stream, Traffic, throttled

__all__ = ["PROTOCOL_LOGGER", "Connection", "ConnectionHandler", "new_protocol"]

PROTOCOL_LOGGER = "gateway.websocket"  # websockets' own lines (see the module docstring)
protocol_log = logging.getLogger(PROTOCOL_LOGGER)

# Control frames (pings, pongs we did not ask for) a client may send: 10 a second,
# 50 at once. Browsers send none; websockets' client one every 20 s.
CONTROL_RATE, CONTROL_BURST = 10.0, 50.0
DISCARD_LIMIT = 64 << 10  # bytes a failed connection's peer may still send us
# Frames of one fragmented message: a 1 MB message in 256-byte pieces. Without a cap,
# empty continuation frames (6 bytes each, never nearer --max-message-size) cost the
# parser a few microseconds apiece: 8 MB of them held the loop for seconds.
MAX_FRAGMENTS = 4096
CONNECTING, OPEN = State.CONNECTING, State.OPEN
TEXT, BINARY, CONT, PONG, CLOSE = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PONG, Opcode.CLOSE
R = TypeVar("R")  # the handler's record of a connection (the gateway's: its Client)


def new_protocol(max_size: int | None, compression: bool) -> ServerProtocol:
    return ServerProtocol(
        extensions=enable_server_permessage_deflate(None) if compression else None,
        max_size=max_size,
        logger=protocol_log,
    )


class ConnectionHandler(Protocol[R]):
    """What a :class:`Connection` reports to, in this order, from the event loop."""

    def connection_made(self, conn: Connection[R]) -> None:
        """A TCP connection is open; its upgrade request has not arrived yet."""

    def request_received(self, conn: Connection[R], request: Request) -> None:
        """The upgrade request: call ``conn.accept(request)`` or ``conn.reject(...)``.

        An exception here costs this connection only (500 or an abort), and is logged.
        """

    def message_received(self, conn: Connection[R], message: str | bytes) -> None:
        """A complete message (text as str, binary as bytes) of an accepted connection."""

    def connection_lost(self, conn: Connection[R]) -> None:
        """The TCP connection is gone (whoever closed it); ``conn.close_code`` says how."""


class Connection(Stream, Generic[R]):
    """One client's TCP connection, driven by a ``ServerProtocol``."""

    __slots__ = (
        "_ping_sent",
        "accepted",
        "budget",
        "client",
        "controls",
        "discarded",
        "failed",
        "fragments",
        "handler",
        "held",
    )

    def __init__(
        self,
        handler: ConnectionHandler[R],
        protocol: ServerProtocol,
        limit: int = 4 << 20,
        traffic: Traffic | None = None,
        budget: PassBudget | None = None,
    ) -> None:
        super().__init__(protocol, limit, traffic if traffic is not None else Traffic())
        self.handler = handler
        self.budget = budget  # upgrade requests answered per loop pass (None: no bound)
        self.held: bytes | None = None  # what came while this request waits for a pass
        self.accepted = False  # the handler accepted the upgrade (101 sent)
        self.client: R | None = None  # the handler's own record of this connection
        self._ping_sent = 0.0  # loop time of our last unanswered keepalive ping (0: none)
        # a fragmented message being received: [opcode, fragment, ...]; during the
        # handshake: [the last bytes received]
        self.fragments: list[Any] | None = None
        self.failed = False  # we failed the connection (bad data): read nothing more
        self.discarded = 0  # bytes the peer sent after we failed the connection
        self.controls: TokenBucket | None = None  # control frames' budget, made on need

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.handler.connection_made(self)

    def data_received(self, data: bytes) -> None:
        self.traffic.bytes_in += len(data)
        if not self.accepted and self.protocol.state is CONNECTING:
            self._paced(data)
            return
        if self.failed:  # websockets discards it anyway: only count it
            self.discarded += len(data)
            if self.discarded > DISCARD_LIMIT:
                self.abort()
            return
        protocol = self.protocol
        if len(data) == POLITE_PONG_SIZE and is_our_pong(data) and between_frames(protocol):
            # an idle client's only traffic: taken without the parser (see parsing.py)
            self._ping_sent = 0.0
            return
        protocol.receive_data(data)
        events = protocol.events_received()
        self.send_data()
        if self.accepted:
            frames: list[Frame] = events  # type: ignore[assignment]  # only frames once open
            for frame in frames:
                self._on_frame(frame)
            if frames and between_frames(protocol):
                parsing.refresh(protocol)  # the parser held the last frame (see parsing.py)
        if protocol.close_expected():
            if self.timer is None:
                self.arm_close_timer()
            self._read_the_end()

    def _paced(self, data: bytes) -> None:
        """The upgrade's bytes, answered within the loop pass's budget, else in a later
        pass (with whatever else comes meanwhile, in order)."""
        if self.held is not None:
            self.held += data
            if len(self.held) > DISCARD_LIMIT:  # a request is a few hundred bytes
                self.abort()
            return
        if self.budget is None:
            self._handshake_data(data)
        else:
            self.held = data
            self.budget.run(self._unhold, first=self.fragments is not None)  # (begun)

    def _unhold(self) -> None:
        data, self.held = self.held, None
        if data is not None and self.protocol.state is CONNECTING:  # (not gone meanwhile)
            self._handshake_data(data)

    def _handshake_data(self, data: bytes) -> None:
        """Feed the upgrade request, and only it, to the protocol.

        Bytes after the request's end (frames a client sent without waiting for the
        101) are kept for after it is accepted: then the protocol gets a fresh frame
        parser, so that the request is not held by the old parser's generator for
        the connection's life (about 1 KB per connection).
        """
        protocol = self.protocol
        if protocol.close_expected():
            # refused already: what the peer sends now is discarded, and it must not
            # push back the deadline (a byte every few seconds would keep it open)
            return
        tail = self.fragments[0] if self.fragments else b""  # end of what came before
        window = tail + data
        end = window.find(b"\r\n\r\n")
        if end < 0:
            self.fragments = [window[-3:]]
            head, rest = data, b""
        else:
            self.fragments = None
            cut = end + 4 - len(tail)
            head, rest = data[:cut], data[cut:]
        protocol.receive_data(head)
        events = protocol.events_received()
        self.send_data()
        for event in events:
            if isinstance(event, Request):
                try:
                    self.handler.request_received(self, event)
                except Exception:  # a bug must cost this connection only, and say so
                    throttled.exception(
                        "accept", "failed to accept a connection from %s:%d", *self.peer
                    )
                    if protocol.state is OPEN:  # accepted already: an internal error
                        self.fail(1011, "internal error")
                        return
                    self.reject(http.HTTPStatus.INTERNAL_SERVER_ERROR, "Internal error.\n")
        if self.accepted:  # (and maybe already closing, e.g. 1013)
            protocol.parser = protocol.parse()
            next(protocol.parser)
            if rest:
                self.data_received(rest)
        # else refused: the response armed the close deadline, or the open deadline
        # (armed at connection_made) still runs

    def eof_received(self) -> None:
        self.protocol.receive_eof()
        self.send_data()
        # the WebSocket close handshake is over (or broken): no reason to keep writing

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # idempotent: the state is CLOSED from here on
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.handler.connection_lost(self)

    # -- frames -----------------------------------------------------------------------
    def _on_frame(self, frame: Frame) -> None:
        if self.failed:  # earlier in this read: nothing after that is delivered
            return
        opcode = frame.opcode
        if opcode is TEXT or opcode is BINARY:
            if not frame.fin:
                self.fragments = [opcode, bytes(frame.data)]
                return
            data: bytes | bytearray | memoryview = frame.data
        elif opcode is CONT:
            fragments = self.fragments
            if fragments is None:  # websockets' parser refuses this; stay safe
                return
            fragments.append(bytes(frame.data))
            if len(fragments) > MAX_FRAGMENTS + 1:  # (its opcode is fragments[0])
                self.fail(1009, "message in too many fragments", Drop.FRAGMENTS)
                return
            if not frame.fin:
                return
            opcode, data = fragments[0], b"".join(fragments[1:])
            self.fragments = None
        else:
            if opcode is PONG and bytes(frame.data[:3]) == PING_PREFIX:
                self._ping_sent = 0.0
            elif opcode is not CLOSE:
                self._control_frame()
            return  # ping (answered by the protocol), close (handled by it too)
        if opcode is TEXT:
            try:
                message: str | bytes = str(data, "utf-8")
            except UnicodeDecodeError:
                # fail the connection (RFC 6455 8.1): nothing more is read from it
                self.fail(1007, "invalid UTF-8")
                return
        else:
            message = bytes(data)
        self.handler.message_received(self, message)

    def _control_frame(self) -> None:
        """A ping, or a pong that is not ours: within the budget, or the end (1008)."""
        now = asyncio.get_running_loop().time()
        if self.controls is None:
            self.controls = TokenBucket(CONTROL_RATE, CONTROL_BURST, now)
        if not self.controls.take(now):
            self.fail(1008, "too many control frames", Drop.CONTROL_FLOOD)

    def fail(self, code: int, reason: str, drop: Drop | None = None) -> None:
        """Fail the connection (RFC 6455 7.1.7): send a close, deliver nothing more.

        ``drop``: the gateway's reason, if it ends the client for one (counted by
        kind when the connection is lost). What the peer sends next is discarded until
        its end of stream or CLOSE_TIMEOUT; a peer that keeps sending (a flood) past
        DISCARD_LIMIT bytes is dropped.
        """
        if drop is not None:
            self.dropped = drop
        if self.failed or self.transport is None:
            return
        self.failed = True
        self.discarded = 0
        self.protocol.fail(code, reason)
        self.send_data()
        self.arm_close_timer()

    # -- the handshake ----------------------------------------------------------------
    def accept(self, request: Request) -> bool:
        """Answer an upgrade request: 101 and open (True), or websockets' refusal (False).

        A refusal (not a WebSocket upgrade, a bad key...) is sent, logged, and the
        peer then has CLOSE_TIMEOUT to go.
        """
        protocol = self.protocol
        response = protocol.accept(request)
        if response.status_code != 101:
            why = f"{response.status_code} {protocol.handshake_exc}"
            throttled.info("upgrade", "refused a WebSocket upgrade from %s:%d: %s", *self.peer, why)
            self.respond(response)
            return False
        protocol.send_response(response)
        self.send_data()
        self.opened()
        return True

    @property
    def compressed(self) -> bool:
        """An extension (permessage-deflate) frames this connection's messages itself."""
        return bool(self.protocol.extensions)

    # -- keepalive ------------------------------------------------------------------
    def ping_now(self, now: float) -> None:
        """Send a keepalive ping (the gateway's sweep calls this)."""
        transport = self.transport
        if self.protocol.state is OPEN and transport is not None:
            self._ping_sent = now
            transport.write(PING_FRAME)
            self.traffic.bytes_out += len(PING_FRAME)
            self._check_buffer()

    @property
    def ping_sent(self) -> float:
        """When our keepalive ping left (the ``now`` given to :meth:`ping_now`), if its
        pong has not come yet; 0.0 if none is outstanding."""
        return self._ping_sent

    def forget_ping(self) -> None:
        """Stop waiting for the outstanding ping's pong (a paused client's pong waits
        behind what we do not read); the next sweep pings again."""
        self._ping_sent = 0.0

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; the connection is aborted if it does not end."""
        if self.protocol.state is not OPEN or self.transport is None:
            return
        self.protocol.send_close(code, reason)
        self.send_data()
        self._read_the_end()
        self.arm_close_timer()

    def reject(
        self, status: http.HTTPStatus, text: str, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Answer the upgrade request with an HTTP response (with ``headers`` added, e.g.
        ``Retry-After``) and end the connection."""
        response = self.protocol.reject(status, text)
        for name, value in headers:
            response.headers[name] = value
        self.respond(response)

    def respond(self, response: Response) -> None:
        """Send a response that refuses the upgrade; the peer then has CLOSE_TIMEOUT."""
        self.protocol.send_response(response)
        self.send_data()
        self.arm_close_timer()

    def opened(self) -> None:
        """The handshake succeeded: stop the open deadline, drop what only it needed."""
        self.accepted = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.protocol.handshake_exc = None
