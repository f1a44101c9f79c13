"""gateway.connection: the asyncio shell around websockets' Sans-I/O ``ServerProtocol``.

No sockets: a fake transport collects what the connection writes, a fake handler
accepts the upgrade through the connection's own verbs (``accept``, ``reject``), as
the gateway does, and the client's bytes are made with websockets' own client-side
tooling.
"""

from __future__ import annotations

import asyncio
import http
import itertools
import random
import types
import weakref
from typing import TypeVar, cast

import pytest
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.uri import parse_uri

from gateway import connection, stream
from gateway.clients import Client
from gateway.connection import Connection, ConnectionHandler, new_protocol
from gateway.parsing import PING_PREFIX
from gateway.stream import Drop, PassBudget
from tests.harness import eventually_async

from .wire import (
    ACCEPT,
    KEY,
    PEER,
    FakeTransport,
    binary,
    close_frame,
    close_of,
    frame,
    masked,
    read_frames,
    read_response,
    text,
    upgrade_request,
)

T = TypeVar("T")

SHORT = 0.05  # patched OPEN_TIMEOUT / CLOSE_TIMEOUT


# -- fakes --------------------------------------------------------------------------


class FakeHandler:
    """A ``ConnectionHandler`` that records the calls and accepts every upgrade."""

    internal_address = "tcp://10.0.0.1:2900"
    public_port = 8282

    def __init__(self) -> None:
        self.made: list[Connection] = []
        self.requests: list[Request] = []
        self.messages: list[tuple[Client, str | bytes]] = []
        self.lost: list[Connection] = []
        self.log: list[str] = []  # the order of the callbacks
        self.clients = 0

    def connection_made(self, conn: Connection) -> None:
        self.made.append(conn)

    def request_received(self, conn: Connection, request: Request) -> None:
        self.requests.append(request)
        self.log.append("request")
        if request.path == "/healthz":  # as the gateway does
            conn.reject(http.HTTPStatus.OK, "ok\n")
            return
        if not conn.accept(request):
            return
        self.clients += 1
        conn.client = Client(f"client-{self.clients}", f"{conn.peer[0]}:{conn.peer[1]}", conn)

    def message_received(self, conn: Connection, message: str | bytes) -> None:
        self.messages.append((conn.client, message))
        self.log.append("message")

    def connection_lost(self, conn: Connection) -> None:
        self.lost.append(conn)

    def received(self) -> list[str | bytes]:
        return [message for _, message in self.messages]


class Peer:
    """One connection with its fake transport and gateway."""

    def __init__(
        self,
        max_size: int | None = 2**20,
        compression: bool = False,
        budget: PassBudget | None = None,
    ) -> None:
        self.handler = FakeHandler()
        self.transport = FakeTransport()
        handler: ConnectionHandler = self.handler
        self.conn = Connection(handler, new_protocol(max_size, compression), budget=budget)
        self.conn.connection_made(cast(asyncio.Transport, self.transport))

    def send(self, *chunks: bytes) -> None:
        for chunk in chunks:
            self.conn.data_received(chunk)

    def open(self, path: str = "/") -> Peer:
        self.send(upgrade_request(path))
        response, rest = read_response(self.transport.take())
        assert response.status_code == 101
        assert rest == b""
        assert self.conn.protocol.state is State.OPEN
        return self

    @property
    def client(self) -> Client:
        assert self.conn.client is not None
        return self.conn.client

    def frames(self) -> list[Frame]:
        return read_frames(self.transport.take())


# -- client bytes and server output -------------------------------------------------


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "OPEN_TIMEOUT", SHORT)
    monkeypatch.setattr(stream, "CLOSE_TIMEOUT", SHORT)


# -- the opening handshake ----------------------------------------------------------


async def test_connection_made_registers_and_reads_peer() -> None:
    peer = Peer()
    assert peer.handler.made == [peer.conn]
    assert peer.conn.peer == PEER
    assert peer.conn.timer is not None  # the open deadline
    assert peer.conn.client is None


async def test_upgrade_then_text_and_binary_messages() -> None:
    peer = Peer()
    peer.send(upgrade_request("/chat?room=1"))
    response, rest = read_response(peer.transport.take())
    assert response.status_code == 101
    assert response.headers["Sec-WebSocket-Accept"] == ACCEPT
    assert rest == b""
    assert len(peer.handler.requests) == 1
    request = peer.handler.requests[0]
    assert request.path == "/chat?room=1"
    assert request.headers["Host"] == "example.com"
    assert request.headers["Sec-WebSocket-Key"] == KEY
    client = peer.client
    assert peer.conn.timer is None  # opened() stopped the open deadline

    peer.send(text("text"))
    peer.send(binary(b"\x00\xffbin"))
    assert peer.handler.messages == [(client, "text"), (client, b"\x00\xffbin")]
    assert type(peer.handler.messages[0][1]) is str
    assert type(peer.handler.messages[1][1]) is bytes
    assert peer.transport.take() == b""  # nothing to answer
    assert not peer.transport.ended


@pytest.mark.parametrize(
    "cuts",
    [
        [-3],  # "\r" | "\n\r\n"
        [-2],  # "\r\n" | "\r\n"
        [-1],  # "\r\n\r" | "\n"
        [-4],  # the whole terminator in the second chunk
        [-3, -2, -1],  # one byte of the terminator per call
        [-5, -3],
        [10, 40, -2],
        [1],
    ],
)
async def test_request_in_chunks(cuts: list[int]) -> None:
    request = upgrade_request()
    positions = [cut % len(request) for cut in cuts]
    bounds = [0, *positions, len(request)]
    chunks = [request[a:b] for a, b in itertools.pairwise(bounds)]
    assert b"".join(chunks) == request
    peer = Peer()
    for chunk in chunks[:-1]:
        peer.send(chunk)
        assert peer.handler.requests == []
        assert peer.conn.protocol.state is State.CONNECTING
    peer.send(chunks[-1])
    assert len(peer.handler.requests) == 1
    assert peer.conn.protocol.state is State.OPEN
    assert peer.transport.take().count(b"HTTP/1.1 101") == 1
    peer.send(text("after"))
    assert peer.handler.received() == ["after"]


async def test_request_and_frames_one_byte_at_a_time() -> None:
    stream = upgrade_request() + text("one") + binary(b"two") + text("three")
    peer = Peer()
    for i in range(len(stream)):
        peer.send(stream[i : i + 1])
    assert len(peer.handler.requests) == 1
    assert peer.handler.received() == ["one", b"two", "three"]
    response, rest = read_response(peer.transport.take())
    assert response.status_code == 101
    assert rest == b""


async def test_frames_in_the_same_chunk_as_the_request() -> None:
    peer = Peer()
    peer.send(upgrade_request() + text("early") + binary(b"bird"))
    assert len(peer.handler.requests) == 1
    assert peer.handler.log == ["request", "message", "message"]
    client = peer.client
    assert peer.handler.messages == [(client, "early"), (client, b"bird")]
    response, rest = read_response(peer.transport.take())
    assert response.status_code == 101
    assert rest == b""
    peer.send(text("later"))
    assert peer.handler.received() == ["early", b"bird", "later"]


async def test_frame_split_between_request_chunk_and_next() -> None:
    early = text("early")
    peer = Peer()
    peer.send(upgrade_request() + early[:3])
    assert peer.handler.messages == []
    peer.send(early[3:])
    assert peer.handler.received() == ["early"]


@pytest.mark.parametrize("cut", [-1, -2, -3, -4])
async def test_terminator_split_with_frames_after_it(cut: int) -> None:
    request = upgrade_request()
    peer = Peer()
    peer.send(request[:cut], request[cut:] + text("a") + text("b"))
    assert len(peer.handler.requests) == 1
    assert peer.handler.received() == ["a", "b"]


async def test_parser_replaced_after_handshake() -> None:
    peer = Peer()
    handshake_parser = weakref.ref(peer.conn.protocol.parser)
    peer.open()
    # the generator that parsed the request (and held it) is gone
    assert handshake_parser() is None
    parser = cast("types.GeneratorType[None, None, None]", peer.conn.protocol.parser)
    assert parser.gi_frame is not None
    assert "request" not in parser.gi_frame.f_locals
    assert peer.conn.fragments is None


async def test_many_frames_fed_one_byte_at_a_time() -> None:
    rng = random.Random(7)
    expected: list[str | bytes] = []
    stream = bytearray()
    for i in range(50):
        size = rng.choice([0, 1, 125, 126, 127, 300, 70_000 if i == 25 else 5])
        if i % 2:
            payload = rng.randbytes(size)
            stream += binary(payload)
            expected.append(payload)
        else:
            message = "é" * (size // 2) + str(i)
            stream += text(message)
            expected.append(message)
    peer = Peer().open()
    for i in range(len(stream)):
        peer.send(bytes(stream[i : i + 1]))
    assert peer.handler.received() == expected


async def test_many_frames_split_at_random_boundaries() -> None:
    rng = random.Random(11)
    messages = [f"message {i} " + "x" * rng.randrange(400) for i in range(200)]
    stream = b"".join(text(m) for m in messages)
    peer = Peer().open()
    pos = 0
    while pos < len(stream):
        step = rng.randrange(1, 700)
        peer.send(stream[pos : pos + step])
        pos += step
    assert peer.handler.received() == messages


# -- messages -----------------------------------------------------------------------


async def test_fragmented_text_message_is_joined() -> None:
    peer = Peer().open()
    peer.send(frame(Opcode.TEXT, b"hel", fin=False))
    peer.send(frame(Opcode.CONT, b"lo ", fin=False))
    assert peer.handler.messages == []
    peer.send(frame(Opcode.CONT, b"world", fin=True))
    assert peer.handler.received() == ["hello world"]


async def test_fragmented_utf8_character_split_across_fragments() -> None:
    peer = Peer().open()
    data = "café".encode()
    peer.send(frame(Opcode.TEXT, data[:-1], fin=False) + frame(Opcode.CONT, data[-1:]))
    assert peer.handler.received() == ["café"]
    assert peer.transport.take() == b""


async def test_fragmented_binary_message_is_joined() -> None:
    peer = Peer().open()
    peer.send(
        frame(Opcode.BINARY, b"\x00\x01", fin=False),
        frame(Opcode.CONT, b"", fin=False),
        frame(Opcode.CONT, b"\x02", fin=False),
        frame(Opcode.CONT, b"\x03\xff", fin=True),
    )
    assert peer.handler.received() == [b"\x00\x01\x02\x03\xff"]
    peer.send(text("next"))  # the fragments were dropped
    assert peer.handler.received() == [b"\x00\x01\x02\x03\xff", "next"]


async def test_a_message_in_too_many_fragments_fails_the_connection_with_1009() -> None:
    """Up to MAX_FRAGMENTS frames a message is joined; one more is the end (1009): empty
    continuation frames would otherwise cost the parser without ever nearing the size
    limit."""
    most = connection.MAX_FRAGMENTS
    peer = Peer().open()
    empty = frame(Opcode.CONT, b"", fin=False)
    peer.send(frame(Opcode.TEXT, b"a", fin=False) + empty * (most - 2) + frame(Opcode.CONT, b"b"))
    assert peer.handler.received() == ["ab"] and peer.conn.dropped is None
    peer.transport.take()
    peer.send(frame(Opcode.TEXT, b"a", fin=False) + empty * (most - 1), frame(Opcode.CONT, b"b"))
    peer.send(text("not delivered"))
    *_, last = peer.frames()
    assert close_of(last).code == 1009 and close_of(last).reason == "message in too many fragments"
    assert peer.conn.dropped is Drop.FRAGMENTS and peer.handler.received() == ["ab"]  # no more


async def test_ping_between_fragments() -> None:
    peer = Peer().open()
    peer.send(
        frame(Opcode.TEXT, b"a", fin=False),
        frame(Opcode.PING, b"mid"),
        frame(Opcode.CONT, b"b", fin=True),
    )
    assert peer.handler.received() == ["ab"]
    [pong] = peer.frames()
    assert pong.opcode is Opcode.PONG
    assert pong.data == b"mid"


async def test_invalid_utf8_closes_with_1007() -> None:
    peer = Peer().open()
    peer.send(frame(Opcode.TEXT, b"ok \xff\xfe"))
    assert peer.handler.messages == []
    [closing] = peer.frames()
    assert close_of(closing).code == 1007
    assert peer.conn.protocol.state is State.CLOSING
    assert peer.conn.timer is not None  # the close deadline


async def test_invalid_utf8_in_fragmented_text_closes_with_1007() -> None:
    peer = Peer().open()
    peer.send(frame(Opcode.TEXT, b"ok", fin=False), frame(Opcode.CONT, b"\xc3"))
    assert peer.handler.messages == []
    [closing] = peer.frames()
    assert close_of(closing).code == 1007


async def test_no_message_delivered_after_invalid_utf8() -> None:
    peer = Peer().open()
    peer.send(frame(Opcode.TEXT, b"\xff") + text("after the failure"))
    peer.send(text("in a later read"))
    assert peer.handler.messages == []


async def test_message_of_max_size_is_delivered() -> None:
    peer = Peer(max_size=100).open()
    peer.send(binary(b"x" * 100))
    assert peer.handler.received() == [b"x" * 100]
    assert peer.transport.take() == b""


async def test_message_over_max_size_closes_with_1009() -> None:
    peer = Peer(max_size=100).open()
    peer.send(text("x" * 101))
    assert peer.handler.messages == []
    [closing] = peer.frames()
    assert close_of(closing).code == 1009
    assert peer.transport.eof  # a failed connection is half-closed at once


async def test_fragmented_message_over_max_size_closes_with_1009() -> None:
    peer = Peer(max_size=100).open()
    peer.send(frame(Opcode.BINARY, b"x" * 60, fin=False), frame(Opcode.CONT, b"y" * 60))
    assert peer.handler.messages == []
    [closing] = peer.frames()
    assert close_of(closing).code == 1009


async def test_send_message_frames_text_and_binary() -> None:
    peer = Peer().open()
    peer.conn.send_message("héllo".encode(), text=True)
    peer.conn.send_message(b"\x01\x02", text=False)
    first, second = peer.frames()
    assert (first.opcode, first.data) == (Opcode.TEXT, "héllo".encode())
    assert (second.opcode, second.data) == (Opcode.BINARY, b"\x01\x02")


async def test_send_message_before_open_writes_nothing() -> None:
    peer = Peer()
    peer.conn.send_message(b"too early", text=True)
    assert peer.transport.take() == b""


async def test_compressed_messages_both_ways() -> None:
    client = ClientProtocol(
        parse_uri("ws://example.com/chat"), extensions=[ClientPerMessageDeflateFactory()]
    )
    client.send_request(client.connect())
    peer = Peer(compression=True)
    peer.send(*client.data_to_send())
    assert peer.conn.protocol.extensions  # permessage-deflate was negotiated
    client.receive_data(peer.transport.take())
    [response] = client.events_received()
    assert isinstance(response, Response)
    assert response.status_code == 101
    assert client.state is State.OPEN

    message = "compress me " * 50
    client.send_text(message.encode())
    client.send_binary(b"\x00" * 1000)
    [sent, sent_binary] = client.data_to_send()
    assert len(sent) < len(message)  # compressed on the wire
    peer.send(sent + sent_binary)
    assert peer.handler.received() == [message, b"\x00" * 1000]

    peer.conn.send_message(("reply " * 50).encode(), text=True)
    client.receive_data(peer.transport.take())
    [reply] = client.events_received()
    assert isinstance(reply, Frame)
    assert reply.data == ("reply " * 50).encode()


# -- ping / pong --------------------------------------------------------------------


async def test_client_ping_is_answered_with_pong() -> None:
    peer = Peer().open()
    peer.send(frame(Opcode.PING, b"are you there"))
    [pong] = peer.frames()
    assert pong.opcode is Opcode.PONG
    assert pong.data == b"are you there"
    assert peer.handler.messages == []


async def test_keepalive_ping_and_pong() -> None:
    peer = Peer().open()
    assert peer.conn.ping_sent == 0.0
    peer.conn.ping_now(123.5)
    assert peer.conn.ping_sent == 123.5
    [ping] = peer.frames()
    assert ping.opcode is Opcode.PING
    assert bytes(ping.data) == PING_PREFIX

    peer.send(frame(Opcode.PONG, b"not ours"))  # unsolicited pong: not the answer
    assert peer.conn.ping_sent == 123.5
    peer.send(frame(Opcode.PONG, bytes(ping.data)))
    assert peer.conn.ping_sent == 0.0
    assert peer.handler.messages == []
    assert peer.transport.take() == b""


async def test_a_pong_alone_in_a_read_is_taken_without_the_parser() -> None:
    peer = Peer().open()
    peer.conn.ping_now(5.0)
    parser = peer.conn.protocol.parser
    parse = peer.conn.protocol.receive_data

    def not_parsed(data: bytes) -> None:
        raise AssertionError("the pong went to the parser")

    peer.conn.protocol.receive_data = not_parsed  # type: ignore[method-assign]
    peer.send(masked(0xA, PING_PREFIX))
    assert peer.conn.ping_sent == 0.0
    assert peer.conn.protocol.parser is parser
    peer.conn.protocol.receive_data = parse  # type: ignore[method-assign]
    peer.send(frame(Opcode.TEXT, b"still fine"))  # the parser is where it was
    assert [message for _, message in peer.handler.messages] == ["still fine"]


async def test_the_last_message_read_is_not_kept_for_the_connections_life() -> None:
    """websockets' parser keeps its last frame in a local until the next frame: after
    a message, a fresh parser is put in its place (and the frame is freed)."""
    import sys

    peer = Peer().open()
    before = peer.conn.protocol.parser
    peer.send(frame(Opcode.BINARY, b"x" * 200_000))
    [(_, message)] = peer.handler.messages
    assert peer.conn.protocol.parser is not before
    del before  # (the old parser, which held the frame)
    # held by the handler's tuple, this name and getrefcount's argument: no frame holds it
    assert sys.getrefcount(message) == 3
    peer.send(frame(Opcode.TEXT, b"next"))  # the fresh parser reads on
    assert peer.handler.messages[-1][1] == "next"


async def test_a_client_closing_after_a_message_ends_cleanly() -> None:
    """The close frame makes websockets swap its parser for discard(), which must run to
    the end of the stream: the last frame's release must leave it be (it once put a
    fresh parser in its place, which then failed on the end of stream)."""
    peer = Peer().open()
    peer.send(text("last words"), close_frame(1000, "bye"))
    [answer] = peer.frames()
    assert close_of(answer).code == 1000
    peer.conn.eof_received()
    assert peer.conn.protocol.parser_exc is None
    peer.conn.connection_lost(None)
    assert peer.conn.close_code == 1000 and peer.conn.protocol.parser_exc is None


async def test_pong_shaped_bytes_in_the_middle_of_a_frame_go_to_the_parser() -> None:
    """A binary frame's header arrives alone, then 9 bytes of its payload that look like
    our pong: they are the frame's, not a pong."""
    peer = Peer().open()
    peer.conn.ping_now(5.0)
    payload = masked(0xA, PING_PREFIX)  # 9 bytes, read as the binary frame's payload
    peer.send(bytes((0x82, 0x80 | len(payload))) + b"\x00\x00\x00\x00")
    peer.send(payload)
    assert peer.conn.ping_sent == 5.0  # not taken for the pong
    assert [message for _, message in peer.handler.messages] == [payload]


async def test_an_unmasked_or_foreign_pong_is_the_parsers() -> None:
    peer = Peer().open()
    peer.conn.ping_now(5.0)
    [_ping] = peer.frames()
    peer.send(masked(0xA, b"xy:"))  # not ours: an unsolicited pong, counted as such
    assert peer.conn.ping_sent == 5.0 and peer.conn.controls is not None
    peer.send(bytes((0x8A, 7)) + b"gw:abcd")  # 9 bytes, unmasked
    [close] = peer.frames()  # a client's frame must be masked: 1002
    assert close_of(close).code == 1002 and peer.conn.ping_sent == 5.0


async def test_upgrade_requests_are_answered_a_few_per_loop_pass_in_order() -> None:
    """A storm's requests arrive in one pass: 2 are answered in it, the rest in the next
    passes, each connection's bytes in order (a request in two reads, held whole)."""
    budget = PassBudget(2)
    peers = [Peer(budget=budget) for _ in range(5)]
    request = upgrade_request("/")
    for peer in peers[:4]:
        peer.send(request)
    peers[4].send(request[:10])  # held, then the rest comes while it waits
    peers[4].send(request[10:])
    assert [len(p.handler.requests) for p in peers] == [1, 1, 0, 0, 0]
    await asyncio.sleep(0)  # the next pass: two more
    assert [len(p.handler.requests) for p in peers] == [1, 1, 1, 1, 0]
    await asyncio.sleep(0)
    assert all(len(p.handler.requests) == 1 for p in peers)
    for peer in peers:
        response, rest = read_response(peer.transport.take())
        assert response.status_code == 101 and rest == b""


async def test_a_held_request_of_a_connection_gone_meanwhile_is_dropped() -> None:
    budget = PassBudget(1)
    first, second = Peer(budget=budget), Peer(budget=budget)
    first.send(upgrade_request("/"))
    second.send(upgrade_request("/"))
    second.conn.connection_lost(None)  # gone before its pass
    await asyncio.sleep(0)
    assert len(first.handler.requests) == 1 and second.handler.requests == []


async def test_ping_now_before_open_does_nothing() -> None:
    peer = Peer()
    peer.conn.ping_now(1.0)
    assert peer.conn.ping_sent == 0.0
    assert peer.transport.take() == b""


# -- closing ------------------------------------------------------------------------


async def test_close_sends_close_frame_and_ends_on_the_answer() -> None:
    peer = Peer().open()
    peer.transport.pause_reading()
    peer.conn.close(1000, "bye")
    [closing] = peer.frames()
    close = close_of(closing)
    assert (close.code, close.reason) == (1000, "bye")
    assert peer.transport.reading  # the answer must be read
    assert not peer.transport.eof
    assert peer.conn.timer is not None  # the close deadline

    peer.send(close_frame(1000, "bye"))
    assert peer.transport.eof
    assert peer.transport.take() == b""  # no second close frame
    assert not peer.transport.aborted
    peer.conn.connection_lost(None)
    assert peer.conn.close_code == 1000
    assert peer.conn.close_reason == "bye"


async def test_close_twice_sends_one_close_frame() -> None:
    peer = Peer().open()
    peer.conn.close(1000, "bye")
    peer.conn.close(1001, "again")
    [closing] = peer.frames()
    assert close_of(closing).code == 1000


async def test_messages_received_while_closing_are_delivered() -> None:
    peer = Peer().open()
    peer.conn.close(1000, "bye")
    peer.send(text("in flight") + close_frame(1000) + text("after close"))
    assert peer.handler.received() == ["in flight"]
    assert peer.transport.eof


async def test_close_without_answer_aborts(short_timeouts: None) -> None:
    peer = Peer().open()
    peer.conn.close(1000, "bye")
    assert not peer.transport.aborted
    await eventually_async(lambda: peer.transport.aborted)
    assert peer.conn.timer is None


async def test_close_before_open_does_nothing() -> None:
    peer = Peer()
    timer = peer.conn.timer
    peer.transport.pause_reading()
    peer.conn.close(1000, "bye")
    assert peer.transport.take() == b""
    assert not peer.transport.ended
    assert not peer.transport.reading
    assert peer.conn.timer is timer


async def test_client_initiated_close() -> None:
    peer = Peer().open()
    peer.send(close_frame(4001, "going"))
    [echo] = peer.frames()
    close = close_of(echo)
    assert (close.code, close.reason) == (4001, "going")
    assert peer.transport.eof
    assert peer.conn.timer is not None  # the client must now close the TCP connection
    peer.conn.connection_lost(None)
    assert peer.conn.close_code == 4001
    assert peer.conn.close_reason == "going"


async def test_client_eof_without_close_frame() -> None:
    peer = Peer().open()
    peer.conn.eof_received()
    assert peer.transport.take() == b""  # no close frame: the stream is gone
    assert peer.transport.eof
    peer.conn.connection_lost(None)
    assert peer.conn.close_code == 1006


async def test_connection_lost() -> None:
    peer = Peer().open()
    peer.conn.close(1000)
    timer = peer.conn.timer
    assert timer is not None
    peer.conn.connection_lost(ConnectionResetError())
    assert peer.handler.lost == [peer.conn]
    assert timer.cancelled()
    assert peer.conn.timer is None
    assert peer.conn.protocol.state is State.CLOSED
    assert peer.conn.close_code == 1006  # no close frame came back


async def test_connection_lost_without_close_frames_is_1006() -> None:
    peer = Peer().open()
    assert peer.conn.close_code is None
    peer.conn.connection_lost(None)
    assert peer.handler.lost == [peer.conn]
    assert peer.conn.close_code == 1006
    assert peer.conn.close_reason == ""


async def test_connection_lost_during_handshake_cancels_open_deadline() -> None:
    peer = Peer()
    peer.send(upgrade_request()[:20])
    timer = peer.conn.timer
    assert timer is not None
    peer.conn.connection_lost(None)
    assert timer.cancelled()
    assert peer.conn.timer is None
    assert peer.handler.lost == [peer.conn]
    assert peer.handler.requests == []


# -- deadlines ----------------------------------------------------------------------


async def test_open_timeout(short_timeouts: None) -> None:
    silent = Peer()
    partial = Peer()
    partial.send(upgrade_request()[:-1])
    opened = Peer().open()
    await eventually_async(lambda: silent.transport.aborted and partial.transport.aborted)
    assert not opened.transport.aborted
    assert opened.conn.timer is None
    await asyncio.sleep(2 * SHORT)  # past the open deadline: the thing tested
    assert not opened.transport.aborted
    opened.send(text("still here"))
    assert opened.handler.received() == ["still here"]


async def test_open_deadline_firing_on_an_open_connection_does_not_abort() -> None:
    peer = Peer()
    peer.send(upgrade_request())
    assert peer.conn.protocol.state is State.OPEN
    peer.conn._timed_out()  # as if opened() had not stopped the open deadline in time
    assert not peer.transport.aborted
    assert peer.conn.timer is None


# -- not a WebSocket upgrade --------------------------------------------------------


async def test_not_http(short_timeouts: None) -> None:
    peer = Peer()
    peer.send(b"hello\r\n\r\n")
    assert peer.handler.requests == []
    assert peer.transport.take() == b""  # no HTTP response: just the end of the stream
    assert peer.transport.eof
    assert not peer.transport.aborted
    await eventually_async(lambda: peer.transport.aborted)  # the deadline still runs


async def test_plain_get_gets_426(short_timeouts: None) -> None:
    peer = Peer()
    peer.send(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert len(peer.handler.requests) == 1
    response, rest = read_response(peer.transport.take())
    assert response.status_code == 426
    assert response.headers["Upgrade"] == "websocket"
    assert rest == b""
    assert peer.transport.eof
    assert peer.conn.client is None
    peer.send(text("ignored"))  # what follows a refused request is discarded
    assert peer.handler.messages == []
    assert peer.transport.take() == b""
    await eventually_async(lambda: peer.transport.aborted)


async def test_reject_writes_http_response() -> None:
    peer = Peer()
    peer.send(upgrade_request("/healthz"))
    response, rest = read_response(peer.transport.take())
    assert response.status_code == 200
    assert response.body == b"ok\n"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert rest == b""
    assert peer.transport.eof
    assert peer.conn.client is None
    assert peer.conn.timer is not None  # the close deadline


async def test_a_failing_request_handler_answers_500(caplog: pytest.LogCaptureFixture) -> None:
    peer = Peer()

    def broken(conn: Connection, request: Request) -> None:
        raise KeyError("bug")

    peer.handler.request_received = broken  # type: ignore[method-assign]
    peer.send(upgrade_request())
    response, _ = read_response(peer.transport.take())
    assert response.status_code == 500
    assert peer.transport.eof
    assert "failed to accept a connection from 10.0.0.7:4242" in caplog.text


async def test_a_request_handler_failing_after_accepting_closes_with_1011() -> None:
    peer = Peer()
    accept = peer.handler.request_received

    def broken(conn: Connection, request: Request) -> None:
        accept(conn, request)
        raise KeyError("bug")

    peer.handler.request_received = broken  # type: ignore[method-assign]
    peer.send(upgrade_request() + text("not delivered"))
    response, rest = read_response(peer.transport.take())
    assert response.status_code == 101
    [close] = read_frames(rest)
    assert close_of(close).code == 1011  # an internal error, said as such
    assert peer.handler.messages == []  # nothing after it is delivered


async def test_a_refused_connection_is_aborted_within_close_timeout_even_if_the_peer_keeps_sending(
    short_timeouts: None,
) -> None:
    peer = Peer()
    peer.send(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")  # no upgrade: 426
    assert read_response(peer.transport.take())[0].status_code == 426
    assert peer.transport.eof
    loop = asyncio.get_running_loop()
    start = loop.time()
    # one byte every half deadline, for four deadlines
    while loop.time() - start < 4 * SHORT and not peer.transport.aborted:
        await asyncio.sleep(SHORT / 2)
        if not peer.transport.aborted:
            peer.send(b"x")
    assert peer.transport.aborted


async def test_early_frames_of_a_client_closed_while_accepted_are_still_parsed() -> None:
    # The gateway closes a client it just accepted when no worker can take its
    # events (1013): the bytes after the request must still go through a frame parser
    peer = Peer()
    accept = peer.handler.request_received

    def accept_then_close(conn: Connection, request: Request) -> None:
        accept(conn, request)
        conn.close(1013, "no business worker")

    peer.handler.request_received = accept_then_close  # type: ignore[method-assign]
    close = close_frame(1013, "no business worker")
    peer.send(upgrade_request() + text("early") + close[:3])
    peer.send(close[3:])  # the client's answer to our close, split across reads
    response, rest = read_response(peer.transport.take())
    assert response.status_code == 101
    [ours] = read_frames(rest)
    assert close_of(ours).code == 1013
    assert peer.handler.received() == ["early"]  # delivered while closing, as websockets does
    assert peer.conn.protocol.close_rcvd is not None  # the answer was parsed as a close
    assert peer.conn.protocol.close_rcvd.code == 1013
    assert peer.transport.eof  # the closing handshake ended: TCP half-closed


# -- bounded writes, paused reads, control frames ------------------------------------


async def test_a_write_past_the_limit_drops_the_client_whatever_was_written() -> None:
    peer = Peer()
    peer.conn.limit = 1000
    peer.open()
    peer.transport.buffered = 999
    peer.conn.write_frames([Frame(Opcode.TEXT, b"x").serialize(mask=False)])
    assert not peer.transport.aborted
    peer.transport.buffered = 1001  # a pong makes it over the limit, not only messages
    peer.send(frame(Opcode.PING, b"p"))
    assert peer.transport.aborted and peer.conn.dropped is Drop.SLOW


async def test_reading_is_paused_for_two_reasons_and_resumed_when_both_are_gone() -> None:
    peer = Peer().open()
    peer.conn.pause_writing()  # the transport's buffer is past its high-water mark
    assert not peer.transport.reading
    peer.conn.pause_reading()  # and the handler's backlog is full
    peer.conn.resume_writing()
    assert not peer.transport.reading  # the handler's reason still holds
    peer.conn.resume_reading()
    assert peer.transport.reading
    peer.conn.pause_reading()
    peer.conn.pause_writing()
    peer.conn.resume_reading()
    assert not peer.transport.reading  # the writes' reason still holds
    peer.conn.resume_writing()
    assert peer.transport.reading


async def test_a_control_frame_flood_fails_the_connection_with_1008() -> None:
    peer = Peer().open()
    peer.send(*[frame(Opcode.PING, b"%d" % n) for n in range(50)])  # the burst: answered
    pongs = peer.frames()
    assert [f.opcode for f in pongs] == [Opcode.PONG] * 50
    peer.send(frame(Opcode.PING, b"one too many"), text("not delivered"))
    *_, last = peer.frames()
    assert close_of(last).code == 1008 and close_of(last).reason == "too many control frames"
    assert peer.conn.dropped is Drop.CONTROL_FLOOD and peer.handler.messages == []


async def test_our_own_pongs_do_not_count_as_control_frames() -> None:
    peer = Peer().open()
    for n in range(100):
        peer.conn.ping_now(float(n + 1))
        [ping] = peer.frames()
        peer.send(frame(Opcode.PONG, ping.data))
    assert peer.conn.dropped is None and not peer.conn.failed


async def test_a_failed_connections_peer_may_not_keep_sending_forever() -> None:
    peer = Peer().open()
    peer.conn.fail(1008, "rate limit")
    [close] = peer.frames()
    assert close_of(close).code == 1008
    peer.send(text("discarded") * 10)
    assert not peer.transport.aborted and peer.handler.messages == []
    peer.send(b"\x00" * (connection.DISCARD_LIMIT + 1))
    assert peer.transport.aborted


async def test_a_client_paused_by_its_backlog_is_not_read_on_while_closing() -> None:
    # the handler paused it (its events back up at a worker); we then close it: reading
    # on to its close frame would read its data frames too, past the backlog's bound
    peer = Peer().open()
    peer.conn.pause_reading()
    peer.conn.close(1000, "bye")
    assert not peer.transport.reading and peer.conn.timer is not None  # the deadline ends it
    peer.conn.resume_reading()  # the backlog drained: read on, to the close frame
    assert peer.transport.reading


async def test_the_rest_of_a_request_begun_is_answered_before_a_storm_waiting() -> None:
    budget = PassBudget(1)
    first, *storm = [Peer(budget=budget) for _ in range(4)]
    request = upgrade_request("/")
    first.send(request[:10])  # served at once: its start is read
    for peer in storm:
        peer.send(request)  # the storm: waits, one a pass
    first.send(request[10:])  # the rest: first in line, not behind the storm
    await asyncio.sleep(0)
    assert [len(p.handler.requests) for p in (first, *storm)] == [1, 0, 0, 0]
