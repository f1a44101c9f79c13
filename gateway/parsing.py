"""Around websockets' frame parser: where it waits, our pong without it, a fresh one.

websockets' ``ServerProtocol`` parses a connection's bytes with a generator
(``parse()``, wrapping ``Protocol.parse``) that waits in ``StreamReader.at_eof``
between frames. Two costs of a gateway with many idle clients come from it, and each
is avoided here only where the parser waits between frames with nothing buffered,
in the open state:

- an idle client's only traffic is one pong per keepalive ping (5,000 a second at
  100,000 clients): :func:`is_our_pong` knows one in a read of its own, and the
  connection takes it without the parser;
- the parser keeps the last frame it read in a local variable until the next frame,
  which for an idle client never comes (its pongs skip the parser): a 1 MB message
  would stay for the connection's life. :func:`refresh` puts a fresh parser (and
  reader) in its place, as the connection does after the handshake: all the
  protocol's state is on the protocol object, none in the generator.

Anywhere else (mid-frame, even with an empty buffer between a frame's header and its
payload; after a close frame, when the parser is ``discard()``) nothing is done and
the bytes go to the parser as usual.
"""

from __future__ import annotations

from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.streams import StreamReader

PING_PREFIX = b"gw:"
# Our keepalive ping, the same bytes for every client (a server frame is not masked;
# control frames are never compressed): written as is, with no framing per ping.
PING_FRAME = Frame(Opcode.PING, PING_PREFIX).serialize(mask=False, extensions=None)
# A client's pong to it, masked as a client's frames must be: 0x8A (FIN, PONG), then
# 0x83 (masked, 3 bytes), the 4-byte mask and the masked payload.
POLITE_PONG = (0x8A, 0x80 | len(PING_PREFIX))
POLITE_PONG_SIZE = 2 + 4 + len(PING_PREFIX)
_WAITING_BETWEEN_FRAMES = StreamReader.at_eof.__code__
OPEN = State.OPEN


def between_frames(protocol: ServerProtocol) -> bool:
    """Whether the parser of an open connection waits between two frames with nothing
    buffered: its innermost generator is ``StreamReader.at_eof``."""
    if protocol.state is not OPEN or protocol.reader.buffer:
        return False
    waiting: Any = protocol.parser  # a generator: gi_yieldfrom is where it waits
    while (inner := waiting.gi_yieldfrom) is not None:
        waiting = inner
    return waiting.gi_code is _WAITING_BETWEEN_FRAMES


def is_our_pong(data: bytes) -> bool:
    """``data`` is exactly one client frame: a pong to our keepalive ping, masked."""
    if len(data) != POLITE_PONG_SIZE or data[0] != POLITE_PONG[0] or data[1] != POLITE_PONG[1]:
        return False
    return bytes(b ^ m for b, m in zip(data[6:], data[2:6], strict=False)) == PING_PREFIX


def refresh(protocol: ServerProtocol) -> None:
    """A fresh parser (and reader) for a connection whose parser waits between frames
    (see :func:`between_frames`): the frame the old one held is let go."""
    protocol.reader = StreamReader()
    protocol.parser = protocol.parse()
    next(protocol.parser)
