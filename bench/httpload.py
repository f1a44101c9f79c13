"""A minimal HTTP/1.1 keep-alive client for load generation (S9, the HTTP API).

One :class:`asyncio.Protocol` per connection and no task: each connection sends a
prepared request, parses the response in ``data_received`` and, in a closed loop,
sends the next one at once. Only what the bench needs: ``Content-Length`` bodies (what
aiohttp answers), no chunked encoding, no redirects. :func:`parse` is pure.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections.abc import Callable

_END = b"\r\n\r\n"


def request(host: str, port: int, path: str, body: bytes, key: str) -> bytes:
    """A keep-alive POST with a JSON body and an API key."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def parse(buffer: bytes | bytearray) -> tuple[int, int, bytes] | None:
    """The first complete response in ``buffer``: (status, bytes it takes, body); None if
    it has not all arrived. ValueError if it is not an HTTP/1.1 response with a length."""
    end = buffer.find(_END)
    if end < 0:
        return None
    head = bytes(buffer[:end]).decode("latin-1")
    lines = head.split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP response: {lines[0][:60]!r}")
    status = int(rest.partition(" ")[0])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length is None:
        raise ValueError("a response without Content-Length")
    total = end + len(_END) + length
    if len(buffer) < total:
        return None
    return status, total, bytes(buffer[end + len(_END) : total])


class Connection(asyncio.Protocol):
    """One keep-alive connection in a closed loop: the next request leaves as soon as the
    answer to the previous one has arrived, until :attr:`running` is cleared."""

    def __init__(self, requests: list[bytes], done: Callable[[Connection], None]) -> None:
        self.requests = requests
        self.done = done  # called once it stopped and has no request in flight
        self.running = False
        self.latencies = array("q")  # microseconds, one per answer
        self.statuses: dict[int, int] = {}
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._sent_ns = 0
        self._next = 0
        self._in_flight = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def start(self) -> None:
        self.running = True
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self._in_flight = True
        self._sent_ns = time.monotonic_ns()
        self.transport.write(self.requests[self._next])
        self._next = (self._next + 1) % len(self.requests)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (found := parse(self._buffer)) is not None:
            status, taken, _ = found
            del self._buffer[:taken]
            self.latencies.append((time.monotonic_ns() - self._sent_ns) // 1000)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self._in_flight = False
            if self.running:
                self._send()
            else:
                self.done(self)

    def stop(self) -> None:
        """Send no more; :attr:`done` is called once the request in flight is answered."""
        self.running = False
        if not self._in_flight:
            self.done(self)


async def closed_loop(
    host: str, port: int, requests: list[list[bytes]], seconds: float
) -> list[Connection]:
    """One connection per list of requests, each in a closed loop for ``seconds``."""
    loop = asyncio.get_running_loop()
    finished: asyncio.Queue[Connection] = asyncio.Queue()
    connections = []
    for own in requests:

        def factory(own: list[bytes] = own) -> Connection:
            return Connection(own, finished.put_nowait)

        _, conn = await loop.create_connection(factory, host, port)
        connections.append(conn)
    for conn in connections:
        conn.start()
    await asyncio.sleep(seconds)
    for conn in connections:
        conn.stop()
    for _ in connections:
        await asyncio.wait_for(finished.get(), 30)
    for conn in connections:
        assert conn.transport is not None
        conn.transport.close()
    return connections
