"""The gateway's WebSocket connection: websockets' ServerConnection, on a fast path.

Every message is handed to the gateway straight from the protocol callback: no
per-message queue, task switch or ``await``, and no assembler (fragments are joined
here; websockets' parser already enforces ``max_size`` on the whole message). The
connection's handler task only waits for the end.

Memory matters at 10,000+ connections: attributes are all set in ``__init__`` (an
attribute added later turns the instance's shared-key dict into a full one), and
the handshake's request and response are dropped once the connection is open.

Keepalive is one sweep over all connections (see ``GatewayServer``) rather than a
task per connection: :meth:`Connection.ping_now` sends a ping frame and
:meth:`acknowledge_pings` records its pong.
"""

from __future__ import annotations

import os
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State

if TYPE_CHECKING:
    from .clients import Client
    from .server import GatewayServer

PING_PREFIX = b"gw:"
# Stands for a connection's request once the handshake is over (websockets checks
# that ``request`` is set to tell frames from the handshake).
HANDSHAKE_DONE = Request("/", Headers())


class Connection(ServerConnection):
    """A client connection that reports its messages and its end to the gateway."""

    gateway: GatewayServer  # set on a subclass made per gateway

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client: Client | None = None
        self.request_data: dict[str, Any] | None = None
        self.ping_sent = 0.0  # loop time of our last unanswered keepalive ping (0: none)
        self.fragments: list[bytes] = []  # a fragmented message being received
        self.fragment_opcode: Opcode | None = None

    def process_event(self, event: Any) -> None:
        client = self.client
        if client is None or self.request is None or not isinstance(event, Frame):
            super().process_event(event)  # the handshake request, or no client yet
            return
        opcode = event.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if not event.fin:
                self.fragment_opcode, self.fragments = opcode, [bytes(event.data)]
                return
            data: bytes | bytearray | memoryview = event.data
        elif opcode is Opcode.CONT:
            self.fragments.append(bytes(event.data))
            if not event.fin or self.fragment_opcode is None:
                return
            opcode, data = self.fragment_opcode, b"".join(self.fragments)
            self.fragment_opcode, self.fragments = None, []
        else:
            super().process_event(event)  # ping, pong, close: websockets' business
            return
        if opcode is Opcode.TEXT:
            try:
                message: str | bytes = str(data, "utf-8")
            except UnicodeDecodeError:
                self.gateway._close_later(self, 1007, "invalid UTF-8")
                return
        else:
            message = bytes(data)
        self.gateway._on_message(client, message)

    def handshake_done(self) -> None:
        """Drop what only the handshake needed (a few KB per connection)."""
        self.request = HANDSHAKE_DONE
        self.response = None

    def ping_now(self, now: float) -> None:
        """Send a keepalive ping (the gateway's sweep calls this)."""
        if self.protocol.state is State.OPEN:
            self.ping_sent = now
            self.protocol.send_ping(PING_PREFIX + os.urandom(4))
            self.send_data()

    def acknowledge_pings(self, data: bytes) -> None:
        if data.startswith(PING_PREFIX):
            self.ping_sent = 0.0
        else:
            super().acknowledge_pings(data)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.client is not None:
            self.gateway._on_connection_lost(self.client)


def request_data(conn: Connection, request: Request, gateway: GatewayServer) -> dict[str, Any]:
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
    remote_ip, remote_port = (conn.remote_address or ("", 0))[:2]
    server: dict[str, Any] = {
        "REMOTE_ADDR": remote_ip,
        "REMOTE_PORT": remote_port,
        "REQUEST_URI": request.path,
        "QUERY_STRING": url.query,
        "GATEWAY_ADDR": gateway.internal_address,
        "GATEWAY_PORT": gateway.public_port,
        "GATEWAY_CLIENT_ID": conn.client.client_id if conn.client else "",
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
