"""The gateway's WebSocket connection: an ``asyncio.Protocol`` around websockets' Sans-I/O core.

websockets' ``ServerProtocol`` does the protocol work (HTTP upgrade, framing, masking,
control frames, close handshake, ``max_size``, permessage-deflate); this module is the
thin I/O shell around it, made for a gateway holding tens of thousands of mostly idle
connections:

- no task, future, queue or assembler per connection: a complete message is handed to
  the gateway from ``data_received``, a close is written at once;
- ``__slots__``, and the handshake request and response are dropped once open;
- keepalive is one sweep over every connection (see ``GatewayServer``):
  :meth:`Connection.ping_now` sends a ping, a pong carrying our prefix answers it.

Timeouts follow websockets' asyncio server: a request must arrive within
``OPEN_TIMEOUT``; once a close is sent (or the handshake failed), the peer has
``CLOSE_TIMEOUT`` to close the TCP connection before it is aborted.
"""

from __future__ import annotations

import asyncio
import http
import logging
import os
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlsplit

from websockets.extensions.permessage_deflate import enable_server_permessage_deflate
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

if TYPE_CHECKING:
    from .clients import Client
    from .server import GatewayServer

log = logging.getLogger(__name__)
# websockets logs every connection opened or rejected at INFO: too chatty for a gateway
# with 10,000 clients. Its warnings and errors still show.
protocol_log = logging.getLogger("gateway.websocket")
if protocol_log.level == logging.NOTSET:
    protocol_log.setLevel(logging.WARNING)

PING_PREFIX = b"gw:"
OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 10.0
CONNECTING, OPEN = State.CONNECTING, State.OPEN
TEXT, BINARY, CONT, PONG = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PONG


def new_protocol(max_size: int | None, compression: bool) -> ServerProtocol:
    return ServerProtocol(
        extensions=enable_server_permessage_deflate(None) if compression else None,
        max_size=max_size,
        logger=protocol_log,
    )


class Connection(asyncio.Protocol):
    """One client's TCP connection, driven by a ``ServerProtocol``."""

    __slots__ = ("client", "failed", "fragments", "gateway", "peer", "ping_sent", "protocol",
                 "timer", "transport")  # fmt: skip

    def __init__(self, gateway: GatewayServer, protocol: ServerProtocol) -> None:
        self.gateway = gateway
        self.protocol = protocol
        self.transport: asyncio.Transport | None = None
        self.client: Client | None = None  # set once the handshake succeeds
        self.ping_sent = 0.0  # loop time of our last unanswered keepalive ping (0: none)
        # a fragmented message being received: [opcode, fragment, ...]; during the
        # handshake: [the last bytes received]
        self.fragments: list[Any] | None = None
        self.timer: asyncio.TimerHandle | None = None  # open or close deadline
        self.peer: tuple[str, int] = ("", 0)
        self.failed = False  # we failed the connection (bad data): read nothing more

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transport is not an asyncio.Transport subclass
        self.transport = transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = (str(peer[0]), int(peer[1]))
        self.timer = asyncio.get_running_loop().call_later(OPEN_TIMEOUT, self._timed_out)
        self.gateway._on_connection_made(self)

    def data_received(self, data: bytes) -> None:
        if self.client is None and self.protocol.state is CONNECTING:
            self._handshake_data(data)
            return
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        self.send_data()
        if self.client is not None:
            frames: list[Frame] = events  # type: ignore[assignment]  # only frames once open
            for frame in frames:
                self._on_frame(frame)
        if protocol.close_expected():
            if self.timer is None:
                self.arm_close_timer()
            # paused by the gateway (a long backlog) or not: the end must be read
            self.transport.resume_reading()  # type: ignore[union-attr]

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
                    self.gateway._on_request(self, event)
                except Exception:  # a bug must cost this connection only, and say so
                    log.exception("failed to accept a connection from %s:%d", *self.peer)
                    if protocol.state is OPEN:
                        self.abort()
                        return
                    self.reject(http.HTTPStatus.INTERNAL_SERVER_ERROR, "Internal error.\n")
        if self.client is not None:  # accepted (and maybe already closing, e.g. 1013)
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
        self.gateway._on_connection_lost(self)

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
            if not frame.fin:
                return
            opcode, data = fragments[0], b"".join(fragments[1:])
            self.fragments = None
        else:
            if opcode is PONG and bytes(frame.data[:3]) == PING_PREFIX:
                self.ping_sent = 0.0
            return  # ping (answered by the protocol), close (handled by it too)
        client = self.client
        assert client is not None
        if opcode is TEXT:
            try:
                message: str | bytes = str(data, "utf-8")
            except UnicodeDecodeError:
                # fail the connection (RFC 6455 8.1): nothing more is read from it
                self.failed = True
                self.protocol.fail(1007, "invalid UTF-8")
                self.send_data()
                self.arm_close_timer()
                return
        else:
            message = bytes(data)
        self.gateway._on_message(client, message)

    # -- writing ------------------------------------------------------------------------
    def send_data(self) -> None:
        """Write what the protocol has to send; its end of stream half-closes TCP."""
        transport = self.transport
        assert transport is not None
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                try:
                    transport.write_eof()
                except (OSError, RuntimeError):  # closing already (uvloop: RuntimeError)
                    transport.abort()
            else:
                transport.close()

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

    def ping_now(self, now: float) -> None:
        """Send a keepalive ping (the gateway's sweep calls this)."""
        if self.protocol.state is OPEN:
            self.ping_sent = now
            self.protocol.send_ping(PING_PREFIX + os.urandom(4))
            self.send_data()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; the connection is aborted if it does not end."""
        if self.protocol.state is not OPEN or self.transport is None:
            return
        self.protocol.send_close(code, reason)
        self.send_data()
        self.transport.resume_reading()  # the peer's close frame must be read
        self.arm_close_timer()

    def reject(self, status: http.HTTPStatus, text: str) -> None:
        """Answer the upgrade request with an HTTP response and end the connection."""
        self.respond(self.protocol.reject(status, text))

    def respond(self, response: Response) -> None:
        """Send a response that refuses the upgrade; the peer then has CLOSE_TIMEOUT."""
        self.protocol.send_response(response)
        self.send_data()
        self.arm_close_timer()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def arm_close_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self._timed_out)

    def _timed_out(self) -> None:
        self.timer = None
        if self.protocol.state is OPEN:  # the timer was the open deadline: now open
            return
        log.info("connection from %s:%d timed out (%s): aborting", *self.peer,
                 self.protocol.state.name.lower())  # fmt: skip
        self.abort()

    def opened(self) -> None:
        """The handshake succeeded: stop the open deadline, drop what only it needed."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.protocol.handshake_exc = None

    @property
    def close_code(self) -> int | None:
        return self.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        return self.protocol.close_reason


def request_data(conn: Connection, request: Request, gateway: GatewayServer,
                 client_id: str) -> dict[str, Any]:  # fmt: skip
    """What ``on_websocket_connect`` receives: path, query, headers, cookies, server."""
    url = urlsplit(request.path)
    headers = dict(request.headers.raw_items())
    cookies: dict[str, str] = {}
    for raw in request.headers.get_all("Cookie"):
        parsed: SimpleCookie = SimpleCookie()
        try:
            parsed.load(raw)
        except CookieError:  # a bad cookie header must not cost the connection
            continue
        cookies.update({k: morsel.value for k, morsel in parsed.items()})
    remote_ip, remote_port = conn.peer
    server: dict[str, Any] = {
        "REMOTE_ADDR": remote_ip,
        "REMOTE_PORT": remote_port,
        "REQUEST_URI": request.path,
        "QUERY_STRING": url.query,
        "GATEWAY_ADDR": gateway.internal_address,
        "GATEWAY_PORT": gateway.public_port,
        "GATEWAY_CLIENT_ID": client_id,
    }
    for name, value in headers.items():
        server["HTTP_" + name.upper().replace("-", "_")] = value
    return {
        "path": url.path,
        "query": dict(parse_qsl(url.query, keep_blank_values=True)),
        "headers": headers,
        "cookies": cookies,
        "server": server,
    }
