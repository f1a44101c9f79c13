"""A client connection's bytes without a socket: a fake transport, and what a client
sends and a server answers, made and read with websockets' own tooling."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar, cast

from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.streams import StreamReader

T = TypeVar("T")

PEER = ("10.0.0.7", 4242)
KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample key and its accept value
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


class FakeTransport:
    """Just enough of ``asyncio.Transport``, recording what the connection does."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.read = 0  # how much of data take() has returned
        self.eof = False
        self.closed = False
        self.aborted = False
        self.reading = True
        self.buffered = 0  # what get_write_buffer_size() says (a test sets it)

    def write(self, data: bytes) -> None:
        if self.eof:  # as asyncio's transports do
            raise RuntimeError("Cannot call write() after write_eof()")
        self.data += data

    def write_eof(self) -> None:
        self.eof = True

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return PEER if name == "peername" else default

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def take(self) -> bytes:
        """What was written since the last call."""
        new = bytes(self.data[self.read :])
        self.read = len(self.data)
        return new

    @property
    def ended(self) -> bool:
        return self.eof or self.closed or self.aborted


def upgrade_request(path: str = "/", *extra: str) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def frame(opcode: Opcode, data: bytes, fin: bool = True) -> bytes:
    """A client frame (masked)."""
    return Frame(opcode, data, fin).serialize(mask=True)


def text(message: str) -> bytes:
    return frame(Opcode.TEXT, message.encode())


def binary(message: bytes) -> bytes:
    return frame(Opcode.BINARY, message)


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(Opcode.CLOSE, Close(code, reason).serialize())


def run(coroutine: Generator[None, None, T]) -> T:
    """Run one of websockets' generator-based parsers over data already fed."""
    try:
        next(coroutine)
    except StopIteration as stop:
        return cast(T, stop.value)
    raise AssertionError("incomplete data")


def read_response(data: bytes) -> tuple[Response, bytes]:
    """Parse an HTTP response; return it and the bytes after it."""
    reader = StreamReader()
    reader.feed_data(data)
    response = run(Response.parse(reader.read_line, reader.read_exact, reader.read_to_eof))
    return response, bytes(reader.buffer)


def read_frames(data: bytes) -> list[Frame]:
    """Parse server frames (unmasked); every byte must belong to a whole frame."""
    reader = StreamReader()
    reader.feed_data(data)
    frames = []
    while reader.buffer:
        frames.append(run(Frame.parse(reader.read_exact, mask=False)))
    return frames


def close_of(f: Frame) -> Close:
    assert f.opcode is Opcode.CLOSE
    return Close.parse(f.data)


def masked(opcode: int, payload: bytes, mask: bytes = b"\x11\x22\x33\x44") -> bytes:
    """A client's frame, byte by byte (FIN set, masked), for the pong fast path."""
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + body


def parse_request(data: bytes) -> Request:
    """An HTTP request, as the server's parser reads it."""
    reader = StreamReader()
    reader.feed_data(data)
    return run(Request.parse(reader.read_line))
