"""A minimal WebSocket client for load generation.

One :class:`asyncio.Protocol` per connection and no task: frames are parsed in
``data_received`` and handed to a callback, so ten thousand connections cost the
load generator little. It does only what the bench needs (RFC 6455):

- client frames are text frames, masked with the all-zero key (legal: the key only
  has to be present; servers XOR it away), so sending costs no copy;
- server frames: text/binary (inflated if permessage-deflate was negotiated), ping
  (answered), close (echoed, then the transport closes); no fragmentation is expected
  from the servers under test (they never fragment messages this small).
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import zlib
from collections.abc import Callable
from typing import cast

_ZERO_MASK = b"\x00\x00\x00\x00"
_DEFLATE_TAIL = b"\x00\x00\xff\xff"


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A final, masked client frame."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
    return head + _ZERO_MASK + payload


class Client(asyncio.Protocol):
    """One connection. ``on_frame(client, payload)`` is called for every data frame."""

    def __init__(
        self,
        host: str,
        port: int,
        on_frame: Callable[[Client, bytes], None],
        compression: bool = False,
        index: int = 0,
    ) -> None:
        self.host, self.port, self.index = host, port, index
        self.on_frame = on_frame
        self.compression = compression
        self.transport: asyncio.Transport | None = None
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buf = bytearray()
        self._open = False
        self._inflater: zlib._Decompress | None = None
        # scenario state, set by the load generator
        self.joined: asyncio.Future[int] | None = None
        self.role = 0
        self.peer = ""
        self.template: tuple[bytes, bytes] = (b"", b"")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transport is not an asyncio.Transport subclass
        self.transport = transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        ext = (
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            if self.compression
            else ""
        )
        transport.write(
            f"GET / HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{ext}\r\n".encode()
        )

    def send(self, payload: bytes) -> None:
        """Send one text frame (silently dropped once the connection is lost)."""
        if self.transport is not None:
            self.transport.write(frame(payload))

    def close(self) -> None:
        """Start the closing handshake (code 1000)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(b"\x03\xe8", 0x8))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.handshake.done():
            self.handshake.set_exception(exc or ConnectionError("closed during handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self._open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            del buf[: end + 4]
            if not head.startswith(b"http/1.1 101"):
                self.handshake.set_exception(ConnectionError(head.split(b"\r\n")[0].decode()))
                self.abort()
                return
            if b"permessage-deflate" in head:
                self._inflater = zlib.decompressobj(-15)
            self._open = True
            self.handshake.set_result(None)
        self._parse(buf)

    def _parse(self, buf: bytearray) -> None:
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, start = b1 & 0x7F, pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length, start = (buf[pos + 2] << 8) | buf[pos + 3], pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            end = start + length
            if end > size:
                break
            payload = bytes(buf[start:end])
            pos = end
            opcode = b0 & 0x0F
            if opcode <= 0x2:
                if b0 & 0x40 and self._inflater is not None:
                    payload = self._inflater.decompress(payload + _DEFLATE_TAIL)
                self.on_frame(self, payload)
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(frame(payload, 0xA))
            elif opcode == 0x8 and self.transport is not None:
                self.transport.write(frame(payload[:2], 0x8))
                self.transport.close()
        if pos:
            del buf[:pos]
