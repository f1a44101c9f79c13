"""Messages out to clients: framed once, written once per connection per loop pass.

A worker's command may address thousands of clients, and one batch from a worker may
carry many commands. :class:`Fanout` frames each message once (server frames are not
masked, so every connection without a compression extension gets the very same
bytes), queues it per connection, and at the end of the loop pass writes each
connection's queue in one ``write()``. A connection whose transport then buffers more
than ``--max-send-buffer`` bytes reads too slowly: the connection drops it (see
:meth:`~gateway.connection.Connection.write_frames`), whatever filled the buffer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from websockets.frames import Frame, Opcode

from common.logs import Throttled
from common.transport import describe

from .clients import Client
from .connection import Connection

log = logging.getLogger(__name__)
throttled = Throttled(log)


@dataclass(slots=True)
class FanoutCounters:
    """What the fan-out counts (``gw status`` and ``/metrics`` read it)."""

    messages_out: int = 0  # messages queued to clients, one per recipient


class Fanout:
    """The per-connection write queues of one gateway."""

    def __init__(self) -> None:
        self.counters = FanoutCounters()
        self._out: dict[Connection[Client], list[Any]] = {}  # frames queued per connection
        self._scheduled = False

    def deliver(self, clients: Iterable[Client], message: str | bytes) -> None:
        """Queue one message for many clients; it is framed once.

        Written at the end of this loop pass (the protocol writes its own control
        frames at once; a close first writes what is queued for its connection, so
        order is kept).
        """
        if isinstance(message, str):
            payload, opcode = message.encode(), Opcode.TEXT
        elif isinstance(message, bytes):
            payload, opcode = message, Opcode.BINARY
        else:
            throttled.warning("type", "dropped a send of %s: not str or bytes", describe(message))
            return
        frame: bytes | None = None
        encoded = (payload, opcode is Opcode.TEXT)  # for compressed connections
        out = self._out
        sent = 0
        for client in clients:
            if client.plain:
                if frame is None:
                    frame = Frame(opcode, payload).serialize(mask=False)
                item: Any = frame
            else:  # per-connection compression state: the protocol frames it
                item = encoded
            queued = out.get(client.conn)
            if queued is None:
                out[client.conn] = [item]
            else:
                queued.append(item)
            sent += 1
        self.counters.messages_out += sent
        if sent and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def begin(self) -> None:
        """A batch of worker frames begins: its end calls :meth:`flush` (so no loop
        callback is scheduled for what it delivers)."""
        self._scheduled = True

    def flush(self) -> None:
        """Write every connection's queue (once per loop pass, or at a batch's end)."""
        self._scheduled = False
        out, self._out = self._out, {}
        for conn, items in out.items():
            conn.write_frames(items)

    def close_after(self, conn: Connection[Client], code: int, reason: str) -> None:
        """Close a connection after what is already queued for it."""
        items = self._out.pop(conn, None)
        if items:
            conn.write_frames(items)
        conn.close(code, reason)

    def forget(self, conn: Connection[Client]) -> None:
        """The connection is gone: drop what was queued for it."""
        self._out.pop(conn, None)
